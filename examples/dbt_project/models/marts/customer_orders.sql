-- One row per customer with what they bought (revenue-bearing orders only).
with orders as (
    select
        customer_id,
        count(*) as order_count,
        sum(amount) as lifetime_value,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from {{ ref('stg_orders') }}
    where is_revenue
    group by customer_id
)

select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.email,
    customers.country,
    coalesce(orders.order_count, 0) as order_count,
    cast(coalesce(orders.lifetime_value, 0) as numeric(14, 2)) as lifetime_value,
    orders.first_order_at,
    orders.last_order_at
from {{ ref('stg_customers') }} as customers
left join orders on orders.customer_id = customers.customer_id
