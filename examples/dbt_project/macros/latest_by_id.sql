{#
  The latest version of each record of an append-only Airbyte table: Airbyte's incremental
  append syncs a changed record again, so the raw table holds every version. Ties on
  `updated_at` fall to the record Airbyte extracted last. `nulls last` is spelled out because
  PostgreSQL sorts NULLs first in descending order and DuckDB does not.
#}
{% macro latest_by_id(relation, key='id', updated_at='updated_at') -%}
    select *
    from (
        select
            r.*,
            row_number() over (
                partition by r.{{ key }}
                order by
                    r.{{ updated_at }} desc nulls last,
                    r._airbyte_extracted_at desc nulls last
            ) as _version_rank
        from {{ relation }} as r
    ) as versions
    where _version_rank = 1
{%- endmacro %}
