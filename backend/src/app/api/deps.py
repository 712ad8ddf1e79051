"""Request dependencies, as ``Annotated`` aliases."""

from typing import Annotated, cast

from fastapi import Depends, Request

from app.bootstrap import Container


def get_container(request: Request) -> Container:
    """The container the lifespan built (tests override this dependency once)."""
    return cast(Container, request.state.container)


ContainerDep = Annotated[Container, Depends(get_container)]
