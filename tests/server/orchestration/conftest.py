import uuid

import pytest
from fastapi import FastAPI


@pytest.fixture
def workspace_id(app: FastAPI) -> uuid.UUID:
    value: uuid.UUID = app.state.default_workspace_id
    return value
