"""Bytes <-> pydantic models: one validation path for Kafka, HTTP and tests."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def decode(model: type[M], data: bytes) -> M:
    return model.model_validate_json(data)
