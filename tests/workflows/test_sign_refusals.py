"""What a party is refused while deciding is told in their language, while the English
message staff and logs read stays as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import texts
from tests.conftest import STAFF, Tenant
from tests.helpers import stored_notifications
from tests.web_sign.signing_helpers import envelope, link_only
from workflows.context import Actor, Env
from workflows.errors import Conflict, Gone, InvalidInput, WorkflowError
from workflows.outbox.kinds import Kind
from workflows.signing import deciding, identity, requests
from workflows.signing.creation import NewParty
from workflows.signing.deciding import Decision

WEB = Actor(type="party", label="page", ip="203.0.113.9")
ROOT = Path(__file__).resolve().parents[2]
SAYS = re.compile(r'says=f?"(signing\.[\w.{}]+)"')
EXPANSIONS = {
    "{request.status}": ("sealing", "completed", "declined", "expired", "cancelled"),
    "{existing.decision}": ("signed", "approved", "declined"),
    "{page.verb}": ("sign", "approve"),
}


def _keys_said() -> set[str]:
    """Every catalogue key a refusal of signing names, its f-string keys expanded."""
    sources = [*(ROOT / "workflows" / "signing").glob("*.py"), ROOT / "web_sign" / "signing.py"]
    keys: set[str] = set()
    for source in sources:
        for key in SAYS.findall(source.read_text(encoding="utf-8")):
            variants = [key]
            for field, values in EXPANSIONS.items():
                variants = [
                    v.replace(field, value) if field in v else v
                    for v in variants
                    for value in values
                ]
            assert not any("{" in v for v in variants), key
            keys.update(variants)
    return keys


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_refusal_of_signing_has_its_words_in_every_language(language: str) -> None:
    said = _keys_said()

    assert len(said) > 30
    assert said <= set(texts.catalogue(language))


async def test_a_wrong_code_is_told_with_the_tries_left_counted_in_the_readers_language(
    env: Env, tenant: Tenant
) -> None:
    made = await envelope(
        env, tenant, [NewParty(role="signer", name="Adam", email="adam@example.test")]
    )
    token = made.tokens["Adam"]
    await identity.send_code(env, token)
    code = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
    wrong = "000000" if code != "000000" else "111111"
    told = []
    for _ in range(4):
        with pytest.raises(InvalidInput) as refused:
            await identity.confirm_code(env, token, wrong)
        told.append(refused.value)

    assert [str(e) for e in told[-2:]] == [
        "that code is wrong; 2 tries left",
        "that code is wrong; 1 try left",
    ]
    assert told[0].told("ru") == "Код неверный; осталось 4 попытки."
    assert told[-1].told("ru") == "Код неверный; осталась 1 попытка."
    assert told[-1].told("pl") == "Ten kod jest błędny; została 1 próba."
    assert told[-1].told("en") == "That code is wrong; 1 try left."


async def test_not_your_turn_and_a_changed_mind_are_told_in_the_readers_language(
    env: Env, tenant: Tenant
) -> None:
    made = await envelope(env, tenant, [link_only("Sam"), link_only("Tom")], order="sequential")
    sign = Decision(kind="sign", typed_name="Tom", consent=True, needs_review=False)

    with pytest.raises(Conflict) as early:
        await deciding.decide(env, made.tokens["Tom"], sign, actor=WEB)
    await deciding.decide(env, made.tokens["Sam"], Decision(kind="decline", reason="No"), actor=WEB)
    with pytest.raises(Conflict) as again:
        await deciding.decide(env, made.tokens["Sam"], sign, actor=WEB)

    assert str(early.value) == "it is not your turn yet: waiting for Sam"
    assert early.value.told("sv") == "Det är inte din tur än: vi väntar på Sam."
    assert str(again.value) == "this party has already declined; a decision is final"
    assert again.value.told("pl") == (
        "Ta prośba jest już przez Ciebie odrzucona; decyzji nie można zmienić."
    )


async def test_a_request_that_ended_is_told_as_ended_in_the_readers_language(
    env: Env, tenant: Tenant
) -> None:
    made = await envelope(env, tenant, [link_only("Sam")])
    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=made.ref)

    with pytest.raises(Gone) as late:
        await deciding.decide(
            env, made.tokens["Sam"], Decision(kind="decline", reason="No"), actor=WEB
        )

    assert str(late.value) == "this request is cancelled"
    assert late.value.told("ru") == "Этот запрос отменён."


async def test_a_too_long_reason_is_refused_with_its_limit(env: Env, tenant: Tenant) -> None:
    made = await envelope(env, tenant, [link_only("Sam")])
    too_long = Decision(kind="decline", reason="x" * (deciding.MAX_REASON + 1))

    with pytest.raises(WorkflowError) as refused:
        await deciding.decide(env, made.tokens["Sam"], too_long, actor=WEB)

    assert str(refused.value) == "reason is longer than 2000 characters"
    assert refused.value.told("pl") == "Powód może mieć najwyżej 2000 znaków."
