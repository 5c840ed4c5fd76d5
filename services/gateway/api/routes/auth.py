"""`/v1/auth/verify`: the credential check nginx calls with `auth_request`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from gateway import context
from gateway.api.deps import ClientDep

router = APIRouter(tags=["auth"])


@router.api_route("/v1/auth/verify", methods=["GET", "HEAD", "POST"], status_code=204,
                  summary="Check a credential for this provider; 204 with the client identity")
async def verify(client: ClientDep) -> Response:
    ctx = context.get()
    if ctx is not None:
        ctx.route = "verify"
    return Response(status_code=204, headers={"X-Client-Id": client.client_id, "X-Auth-Method": client.method})
