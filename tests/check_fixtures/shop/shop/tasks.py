"""Celery tasks."""

from celery import shared_task


@shared_task
def reindex(item_id: int) -> int:
    return item_id
