"""URL planning on plain atoms: no libcst involved."""

from __future__ import annotations

from codemods.urls import (
    PHONE_ID_MARK,
    VERSION_MARK,
    Dyn,
    Lit,
    Syn,
    apply_edits,
    plan_url,
)
from shim.mapping.hosts import Target

D360, META = Target.D360, Target.META


def _new(atoms: list[Lit | Syn | Dyn], values: dict[int, str], target: Target,
         method: str | None = None, context: bool = True) -> dict[int, str]:
    plan = plan_url(atoms, method, target, context=context)
    assert plan is not None and plan.kind in ("rewrite", "base", "mark_read"), plan
    return {o: apply_edits(v, [e for e in plan.edits if e.owner == o]) for o, v in values.items()}


def test_full_literal_on_both_targets() -> None:
    url = "https://waba.360dialog.io/v1/messages"
    atoms: list[Lit | Syn | Dyn] = [Lit(0, 0, url)]
    assert _new(atoms, {0: url}, D360) == {0: "https://waba-v2.360dialog.io/messages"}
    assert _new(atoms, {0: url}, META) == {
        0: f"https://graph.facebook.com/{VERSION_MARK}/{PHONE_ID_MARK}/messages"}


def test_host_constant_plus_path_changes_both_strings() -> None:
    atoms: list[Lit | Syn | Dyn] = [Lit(0, 0, "https://waba.360dialog.io"),
                                    Lit(1, 0, "/v1/messages")]
    new = _new(atoms, {0: "https://waba.360dialog.io", 1: "/v1/messages"}, D360, "POST")
    assert new == {0: "https://waba-v2.360dialog.io", 1: "/messages"}


def test_base_ending_in_v1_loses_it_in_the_base() -> None:
    atoms: list[Lit | Syn | Dyn] = [Lit(0, 0, "https://waba.360dialog.io/v1/"),
                                    Lit(1, 0, "messages")]
    new = _new(atoms, {0: "https://waba.360dialog.io/v1/", 1: "messages"}, D360, "POST")
    assert new == {0: "https://waba-v2.360dialog.io/", 1: "messages"}


def test_media_download_moves_the_id_and_needs_a_note() -> None:
    atoms: list[Lit | Syn | Dyn] = [Dyn(0), Lit(1, 0, "/v1/media/"), Dyn(1)]
    plan = plan_url(atoms, "GET", D360, context=True)
    assert plan is not None and plan.endpoint is not None
    assert plan.endpoint.name == "download_media"
    assert apply_edits("/v1/media/", plan.edits) == "/"
    assert [code for code, _, _ in plan.notes] == ["WM906"]
    assert plan.host == "dynamic"


def test_urljoin_without_slash_keeps_its_style() -> None:
    atoms: list[Lit | Syn | Dyn] = [Dyn(0), Syn("/"), Lit(1, 0, "v1/messages")]
    plan = plan_url(atoms, "POST", D360, context=True)
    assert plan is not None
    assert apply_edits("v1/messages", plan.edits) == "messages"


def test_webhook_config_keeps_its_path_on_360dialog_only() -> None:
    url = "https://waba.360dialog.io/v1/configs/webhook"
    atoms: list[Lit | Syn | Dyn] = [Lit(0, 0, url)]
    assert _new(atoms, {0: url}, D360, "POST") == {
        0: "https://waba-v2.360dialog.io/v1/configs/webhook"}
    meta = plan_url(atoms, "POST", META, context=True)
    assert meta is not None and [c for c, _, _ in meta.notes] == ["WM906"]


def test_unknown_method_with_different_cloud_urls_is_manual() -> None:
    plan = plan_url([Lit(0, 0, "https://waba.360dialog.io/v1/configs/webhook")], None, META,
                    context=True)
    assert plan is not None and plan.kind == "manual" and plan.code == "WM908"


def test_endpoints_without_cloud_counterpart() -> None:
    contacts = plan_url([Dyn(0), Lit(1, 0, "/v1/contacts")], "POST", D360, context=True)
    assert contacts is not None and contacts.code == "WM901"
    login = plan_url([Lit(0, 0, "https://waba.360dialog.io/v1/users/login")], "POST", D360,
                     context=False)
    assert login is not None and login.code == "WM902"
    assert "Instead:" in login.message


def test_read_receipt_needs_the_call_rewrite() -> None:
    plan = plan_url([Dyn(0), Lit(1, 0, "/v1/messages/"), Dyn(2)], "PUT", D360, context=True)
    assert plan is not None and plan.kind == "mark_read" and plan.message_id == 2
    assert apply_edits("/v1/messages/", plan.edits) == "/messages"


def test_not_onprem() -> None:
    for atoms, context in (
        ([Lit(0, 0, "https://waba-v2.360dialog.io/messages")], True),
        ([Lit(0, 0, "https://graph.facebook.com/v24.0/1/messages")], True),
        ([Lit(0, 0, "https://waba-v2.360dialog.io/v1/configs/webhook")], True),
        ([Lit(0, 0, "https://api.anthropic.com/v1/messages")], False),
        ([Dyn(0), Lit(1, 0, "/v1/messages")], False),
    ):
        plan = plan_url(atoms, "POST", D360, context=context)  # type: ignore[arg-type]
        assert plan is None, atoms


def test_hosts_that_are_not_production_onprem_are_unsafe() -> None:
    sandbox = plan_url([Lit(0, 0, "https://waba-sandbox.360dialog.io/v1/messages")], "POST",
                       D360, context=True)
    assert sandbox is not None and sandbox.unsafe_reasons
    node = plan_url([Lit(0, 0, "https://wa-node:9090/v1/messages")], "POST", D360,
                    context=True)
    assert node is not None and node.host == "foreign" and node.unsafe_reasons
    prod = plan_url([Lit(0, 0, "https://waba.360dialog.io/v1/messages")], "POST", D360,
                    context=True)
    assert prod is not None and not prod.unsafe_reasons


def test_host_only_base() -> None:
    plan = plan_url([Lit(0, 0, "https://waba.360dialog.io")], None, META, context=False)
    assert plan is not None and plan.kind == "base" and not plan.unsafe_reasons
    assert apply_edits("https://waba.360dialog.io", plan.edits) == "https://graph.facebook.com"
    v1 = plan_url([Lit(0, 0, "https://waba.360dialog.io/v1")], None, D360, context=False)
    assert v1 is not None and v1.unsafe_reasons  # 360dialog keeps /v1/configs/...


def test_apply_edits_applies_from_the_end() -> None:
    from codemods.urls import Edit

    assert apply_edits("abcdef", [Edit(0, 0, 1, "X"), Edit(0, 4, 6, "")]) == "Xbcd"


def test_turn_extensions_are_manual_not_read_receipts() -> None:
    """``/v1/messages/{id}/automation`` is Turn's own API: reported with its reason, never moved."""
    for tail, method in (("/automation", "POST"), ("/labels", "POST"), ("/automation", None)):
        atoms = [Lit(0, 0, "https://whatsapp.turn.io/v1/messages/"), Dyn(1), Lit(2, 0, tail)]
        plan = plan_url(atoms, method, D360, context=True)  # type: ignore[arg-type]
        assert plan is not None and plan.kind == "manual" and plan.code == "WM902", (tail, plan)
        assert "Turn" in plan.message and not plan.edits


def test_declared_hosts_are_onprem() -> None:
    atoms = [Lit(0, 0, "https://wa-node.internal:9090/v1/messages")]
    foreign = plan_url(atoms, "POST", D360, context=True)  # type: ignore[arg-type]
    assert foreign is not None and foreign.unsafe_reasons
    declared = plan_url(atoms, "POST", D360, context=True,  # type: ignore[arg-type]
                        declared=frozenset({"wa-node.internal"}))
    assert declared is not None and declared.kind == "rewrite" and not declared.unsafe_reasons
    assert declared.new_url == "https://waba-v2.360dialog.io/messages"
