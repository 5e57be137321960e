"""Knowledge-base articles and canned answers, per service (issue #16).

An article belongs to one service and one language; `public` ones are shown to requesters in
the portal before they submit, the others are canned answers only specialists see.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import Base, Id
from models.types import utcnow


class KnowledgeArticle(Base):
    __tablename__ = "knowledge_articles"
    __table_args__ = (Index("ix_knowledge_service_language", "service_code", "language"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)  # Markdown, rendered with raw HTML disabled
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
