{#
  The UTC calendar date of a timestamp with time zone. A plain cast would use the session's
  time zone, so the same order could fall on different days in DuckDB and PostgreSQL.
  `at time zone` means the same in both; other adapters can override `<adapter>__utc_date`.
#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date', 'airbyte_sample')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}
