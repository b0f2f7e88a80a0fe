-- One row per order: its latest synced version (status changes arrive as new versions).
with latest as (
    {{ latest_by_id(source('raw', 'orders')) }}
)

select
    cast(id as bigint) as order_id,
    cast(customer_id as bigint) as customer_id,
    cast(product_id as bigint) as product_id,
    quantity,
    cast(unit_price as numeric(12, 2)) as unit_price,
    -- The source's own total (quantity x the price when ordered), not today's price.
    cast(total as numeric(14, 2)) as amount,
    status,
    -- Cancelled or refunded orders earn nothing; every other status counts.
    status not in ('cancelled', 'refunded') as is_revenue,
    created_at as ordered_at,
    {{ utc_date('created_at') }} as order_date,
    updated_at,
    _airbyte_extracted_at as extracted_at
from latest
