-- One row per customer: its latest synced version. Ids are bigint: the Sample Data source
-- gives new rows ids far past 2^31.
with latest as (
    {{ latest_by_id(source('raw', 'customers')) }}
)

select
    cast(id as bigint) as customer_id,
    first_name,
    last_name,
    email,
    country,
    created_at,
    updated_at,
    _airbyte_extracted_at as extracted_at
from latest
