"""A sync SQLAlchemy session, handed out by a `def` dependency (which FastAPI runs in a thread)."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

engine = create_engine("postgresql+psycopg2://localhost/shop")


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        session.execute("SELECT 1")  # a `def` dependency: runs in a worker thread
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def save_order(session: Session, item_id: int) -> None:
    session.add(item_id)
    session.commit()
