-- One row per product: its latest synced version (price changes arrive as new versions).
with latest as (
    {{ latest_by_id(source('raw', 'products')) }}
)

select
    cast(id as bigint) as product_id,
    name as product_name,
    category,
    cast(price as numeric(12, 2)) as price,
    in_stock,
    created_at,
    updated_at,
    _airbyte_extracted_at as extracted_at
from latest
