from django import template

register = template.Library()


@register.simple_tag
def queue_row(table, record):
    """One row of a QueueTable, built by the table itself (see QueueTable.row_html)."""
    return table.row_html(record)
