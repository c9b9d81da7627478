"""Ingest: turning publisher bytes into validated events or reasoned rejections."""
