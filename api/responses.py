"""Answers serialised once, by pydantic's own (Rust) JSON encoder.

A route that returns a model lets FastAPI dump it, validate the dump against the response model
and encode it again in Python; on the search path that was a visible share of the API's CPU per
request. The route still declares `response_model` for the OpenAPI document; the model it
builds was validated when it was made.
"""

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
