-- Revenue per UTC calendar day of ordering (revenue-bearing orders only).
select
    order_date,
    count(*) as order_count,
    sum(quantity) as units_sold,
    cast(sum(amount) as numeric(14, 2)) as revenue
from {{ ref('stg_orders') }}
where is_revenue
group by order_date
