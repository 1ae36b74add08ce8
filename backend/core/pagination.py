"""Paginate SQLAlchemy selects for flask-smorest's `@blp.paginate()`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def paginate_query(session: Session, query: Select[Any], pagination_parameters: Any) -> list[Any]:
    """Count the whole result once (for the X-Pagination header) and fetch one page."""
    count_query = select(func.count()).select_from(query.order_by(None).subquery())
    pagination_parameters.item_count = int(session.scalar(count_query) or 0)
    if pagination_parameters.first_item >= pagination_parameters.item_count:
        return []  # past the end; also keeps absurd page numbers out of the SQL
    page = query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(session.scalars(page))
