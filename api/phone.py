"""Phone intake: the PBX posts each finished call here, signed with the shared secret."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, ErrorBody
from api.intake import accepted
from api.schemas import Accepted
from channels.phone import PhoneSettings, settings_of
from channels.phone.signing import SIGNATURE_HEADER, InvalidSignature, verify
from channels.phone.webhook import CallIn, SmsIn, sms_message, to_message
from models.db import Service, Team
from models.settings import SettingsError
from models.types import IncomingMessage, InvalidPhoneNumber
from router.intake import Intake
from router.runtime import Runtime


def phone_settings(runtime: Runtime) -> PhoneSettings:
    """Read once per runtime, when the phone channel is built; a bad value is 503, not a crash."""
    try:
        return settings_of(runtime.channels.get("phone"))
    except SettingsError as exc:
        raise ApiError(503, "not_configured", str(exc)) from exc


class SignedRoute(APIRoute):
    """Checks X-Okno-Signature on the raw body before FastAPI parses or validates anything."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signed(request: Request) -> Response:
            secret = phone_settings(request.app.state.runtime).webhook_secret
            if not secret:
                raise ApiError(503, "not_configured", "OKNO_PHONE_WEBHOOK_SECRET is not set")
            body = await request.body()
            try:
                verify(secret, request.headers.get(SIGNATURE_HEADER), body)
            except InvalidSignature as exc:
                raise ApiError(401, "invalid_signature", str(exc)) from exc
            request.state.raw_body = body
            return await handler(request)

        return signed


router = APIRouter(prefix="/api/v1", tags=["intake"], route_class=SignedRoute)

# Read from the raw request by SignedRoute, so FastAPI does not know it: documented by hand.
SIGNATURE_PARAMETER = {
    "name": SIGNATURE_HEADER,
    "in": "header",
    "required": True,
    "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with '
    "OKNO_PHONE_WEBHOOK_SECRET; 5-minute window.",
    "schema": {"type": "string"},
}


@router.post(
    "/intake/phone",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={code: {"model": ErrorBody} for code in (401, 413, 422, 503)},
    summary="A finished call's transcript from the PBX",
    openapi_extra={"parameters": [SIGNATURE_PARAMETER]},
)
def submit_phone_call(
    call: CallIn, request: Request, runtime: RuntimeDep, session: SessionDep
) -> Accepted:
    """Store the call and queue it for routing; the same call_id never makes two tickets."""
    message = to_message(
        call, settings=phone_settings(runtime), max_text_bytes=runtime.settings.max_text_bytes
    )
    drop_unknown_hint(message, session=session)
    result = Intake(runtime).accept(message, raw=request.state.raw_body)
    return accepted(runtime, result)


@router.post(
    "/intake/sms",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={code: {"model": ErrorBody} for code in (401, 413, 422, 503)},
    summary="An SMS the gateway received (a reply such as a rating)",
    openapi_extra={"parameters": [SIGNATURE_PARAMETER]},
)
def submit_sms(sms: SmsIn, request: Request, runtime: RuntimeDep) -> Accepted:
    """Signed like the call webhook; the same message_id is stored once."""
    try:
        message = sms_message(sms)
    except InvalidPhoneNumber as exc:
        raise ApiError(422, "invalid_sender", str(exc)) from exc
    return accepted(runtime, Intake(runtime).accept(message, raw=request.state.raw_body))


def drop_unknown_hint(message: IncomingMessage, *, session: Session) -> None:
    """A typo in OKNO_PHONE_IVR_MAP must not route calls to a team that does not exist."""
    hint = message.meta.get("routing_hint")
    if not hint:
        return
    if "service" in hint:
        query = select(Service.id).where(Service.code == hint["service"], Service.active.is_(True))
    else:
        query = select(Team.id).where(Team.code == hint["team"])
    if session.scalar(query) is None:
        del message.meta["routing_hint"]
        message.meta["notes"].append(f"routing hint {hint} names nothing in the catalogue: ignored")
