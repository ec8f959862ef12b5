"""Secrets: the type that never shows its value, scoped masking of known values, and the redactor."""

from __future__ import annotations

import io
import json
import logging
import pickle
import threading
from pathlib import Path

import pytest

from hoist.cli.app import run
from hoist.secret import RedactingFilter, Secret, current_scope, redact, secrets_scope, use_scope
from hoist.store import Session
from hoist.store.registry.credentials import Credentials

JWT = (
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJob2lzdCIsInN1YiI6InRlc3RlciJ9."
    "MEUCIQDkq0uFJ2uS3Hn7lq4Y6k1x0nQ8p0aZt2nI4hJtWkqHQwIgRzB"
)


# -- the type: first line of defence ---------------------------------------------------------------------


def test_a_secret_never_renders_its_value() -> None:
    value = "p4ssw0rd-value"
    secret = Secret(value)
    percent = "%s" % secret  # noqa: UP031 - the old formatting must not show it either
    rendered = [str(secret), repr(secret), f"{secret}", f"{secret!r}", percent, f"{secret:>20}", str([secret])]
    assert all(value not in text for text in rendered), rendered
    assert secret.reveal() == value
    with pytest.raises(TypeError):
        json.dumps({"password": secret})
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert Secret(value) == secret and Secret("other-value") != secret and bool(Secret("")) is False


def test_credentials_repr_names_the_user_and_source_only() -> None:
    creds = Credentials("robot", Secret("hunter2-password"), source="/home/u/.docker/config.json")
    assert "hunter2-password" not in repr(creds) and "robot" in repr(creds)
    token = Credentials("<token>", Secret("refresh-me-0123"), identity_token=True)
    assert "refresh-me-0123" not in repr(token) and "identity token=***" in repr(token)


# -- the redactor: Authorization headers, token fields, query strings -----------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("Authorization: Bearer " + JWT, JWT, "Authorization: Bearer ***"),
        ("{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpwYXNzd29yZA==", "'Authorization': 'Basic ***'"),
        ('{"authorization": "Bearer abc.def.ghi"}', "abc.def.ghi", '"authorization": "Bearer ***"'),
        ("authorization=Bearer:x y", "Bearer:x", "authorization=***"),
        ("X-Registry-Auth: eyJ1c2VybmFtZSI6InUifQ==", "eyJ1c2VybmFtZSI6InUifQ", "X-Registry-Auth: ***"),
        ("sent Bearer AbCdEf0123456789wxyz to the registry", "AbCdEf0123456789wxyz", "sent Bearer *** to"),
        ('{"token": "t0k", "expires_in": 60}', "t0k", '"token": "***", "expires_in": 60'),
        ('{"access_token":"a.b.c","refresh_token" : "r-1"}', "a.b.c", '"refresh_token" : "***"'),
        ('{"refresh_token": "r\\"quoted\\"-1"}', "quoted", '{"refresh_token": "***"}'),
        ("{'token': 'py-repr-token'}", "py-repr-token", "{'token': '***'}"),
        ('{"auths": {"h": {"auth": "dTpw", "identitytoken": "idt-9"}}}', "idt-9", '"auth": "***"'),
        ('{"ServerURL": "h", "Username": "u", "Secret": "helper-out"}', "helper-out", '"Username": "u"'),
        ("GET https://h/token?service=s&scope=repository:a:pull&access_token=qq1", "qq1", "scope=repository:a:pull"),
        ("grant_type=refresh_token&refresh_token=rr2&client_id=hoist", "rr2", "grant_type=refresh_token&"),
        ("POST /token password=pw3&username=u", "pw3", "username=u"),
        (
            "GET https://b.s3.amazonaws.com/x?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=f00d&X-Amz-Expires=60",
            "f00d",
            "X-Amz-Expires=60",
        ),
        ("https://c.example/blob?validate_token=vt-77&x=1", "vt-77", "validate_token=***&x=1"),
        ("https://storage.googleapis.com/b?X-Goog-Signature=9a9a", "9a9a", "X-Goog-Signature=***"),
        ("https://robot:pa55word@registry.example/v2/", "pa55word", "https://robot:***@registry.example"),
        (f"the token {JWT} expired", JWT.split(".")[1], "the token *** expired"),
    ],
)
def test_redact_masks_credentials_in_every_shape(text: str, hidden: str, kept: str) -> None:
    masked = redact(text)
    assert hidden not in masked, masked
    assert kept in masked, masked


@pytest.mark.parametrize(
    "text",
    [
        "sent a Bearer challenge without a realm",
        "Basic authentication-required-everywhere",
        "upload of blob sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "PUT http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=abc&digest=sha256%3A0011 -> 201",
        '{"auth_requests": 1, "digest": "sha256:0011", "tags": ["token"]}',
        "wrong password for key cosign.key",
        "hoist: error: 127.0.0.1:5000 requires authentication: log in with 'docker login 127.0.0.1:5000'",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


# -- known values: a second line, scoped -------------------------------------------------------------------------


def test_a_secret_is_masked_only_inside_its_scope_and_forgotten_after() -> None:
    outside = Secret("made-outside-any-scope")
    assert redact("made-outside-any-scope") == "made-outside-any-scope", "outside a scope nothing is remembered"
    with secrets_scope() as outer:
        Secret("outer-value-1")
        assert redact("outer-value-1 / made-outside-any-scope") == "*** / made-outside-any-scope"
        with secrets_scope() as inner:
            assert inner.parent is outer
            Secret("inner-value-2")
            assert redact("outer-value-1 inner-value-2") == "*** ***", "an inner scope sees the outer ones"
        assert redact("inner-value-2") == "inner-value-2", "the inner scope's values left with it"
        assert redact("outer-value-1") == "***"
        assert current_scope() is outer
    assert current_scope() is None
    assert redact("outer-value-1") == "outer-value-1"
    assert outside.reveal() == "made-outside-any-scope"


def test_escaped_forms_of_a_known_value_are_masked_too() -> None:
    with secrets_scope():
        Secret('pa/ss"word+1')
        assert redact("q=pa%2Fss%22word%2B1") == "q=***"
        assert redact(json.dumps({"note": 'pa/ss"word+1'})) == '{"note": "***"}'


def test_very_short_values_are_not_masked_as_words() -> None:
    with secrets_scope():
        Secret("pw")
        assert redact("pw and a pwd") == "pw and a pwd"


def test_worker_threads_register_in_the_scope_they_are_handed() -> None:
    """Threads start with an empty context: a secret made there is remembered only under use_scope."""
    with secrets_scope() as scope:
        captured = current_scope()

        def worker(results: list[str]) -> None:
            Secret("lost-in-a-thread")
            with use_scope(captured):
                Secret("kept-from-a-thread")
            results.append(redact("kept-from-a-thread"))

        results: list[str] = []
        thread = threading.Thread(target=worker, args=(results,))
        thread.start()
        thread.join()
        assert results == ["kept-from-a-thread"], "without a scope of its own the thread masks nothing"
        assert redact("kept-from-a-thread lost-in-a-thread") == "*** lost-in-a-thread"
        assert redact("kept-from-a-thread", scope=scope) == "***"


def test_a_filter_bound_to_a_scope_masks_records_from_any_thread() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("hoist.test-secret-filter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with secrets_scope() as scope:
            handler.addFilter(RedactingFilter(scope))
            Secret("logged-secret-42")
            thread = threading.Thread(target=logger.debug, args=("value %s and %s", "logged-secret-42", "plain"))
            thread.start()
            thread.join()
            try:
                raise ValueError("failed with logged-secret-42")
            except ValueError:
                logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    assert "logged-secret-42" not in stream.getvalue()
    assert "value *** and plain" in stream.getvalue() and "ValueError: failed with ***" in stream.getvalue()


def test_a_session_masks_in_its_caller_scope_or_its_own() -> None:
    with secrets_scope() as scope:
        session = Session()
        assert session.secrets is scope
        session.close()
        Secret("still-in-the-command")
        assert redact("still-in-the-command") == "***", "closing a session leaves the command's scope alone"
    session = Session()
    own = session.secrets
    assert own is not None and own.parent is None
    own.remember("session-secret-1")
    assert redact("session-secret-1", scope=own) == "***"
    session.close()
    assert redact("session-secret-1", scope=own) == "session-secret-1", "forgotten with the session"


# -- the CLI: one scope per command; an outside Secret changes nothing -------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run(list(args))
    return code, capsys.readouterr().err


def test_secrets_made_elsewhere_do_not_mask_a_command_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The cause of an order-dependent failure: a Secret("wrong") made by one test used to mask the
    word "wrong" in every later command's output, for the rest of the process."""
    for word in ("wrong", "does not exist", "layout"):
        Secret(word)
    code, err = _run(capsys, "inspect", f"oci:{tmp_path}/missing")
    assert code == 2 and "does not exist" in err and "layout" in err, err


def test_each_command_forgets_what_it_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_KEY_PASSWORD", "first-command-password")
    code, _ = _run(capsys, "keygen", "--output-prefix", str(tmp_path / "k"))
    assert code == 0
    assert current_scope() is None
    assert redact("first-command-password") == "first-command-password"
    with secrets_scope():
        assert redact("first-command-password") == "first-command-password", "a later scope starts empty"


def test_the_cli_masks_with_its_command_scope(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key password read by the command is masked in the command's own error line."""
    password = "password-in-a-path"
    monkeypatch.setenv("HOIST_KEY_PASSWORD", password)
    prefix = tmp_path / password
    prefix.mkdir()
    (prefix / "k.key").write_text("x")
    (prefix / "k.pub").write_text("x")
    code, err = _run(capsys, "keygen", "--output-prefix", str(prefix / "k"))
    assert code == 2 and "already exists" in err and password not in err and "/***/k.key" in err, err


# -- the details the tests above leave open ------------------------------------------------------------------


def test_truth_formatting_and_pickling_of_a_secret() -> None:
    assert bool(Secret("x")) is True, "an empty variable is an empty password; any other value is one"
    assert f"{Secret('value-1234'):>6}" == "   ***", "a format spec applies to the mask"
    assert f"{Secret('value-1234')}" == "***"
    with pytest.raises(TypeError, match=r"^a Secret cannot be pickled$"):
        pickle.dumps(Secret("value-1234"))


def test_a_value_of_the_minimum_length_is_masked() -> None:
    with secrets_scope():
        Secret("abc")
        Secret("wxyz")
        assert redact("abc wxyz") == "abc ***"


def test_longer_values_are_masked_before_the_values_inside_them() -> None:
    """A secret inside another one must not leave the longer one's remainder readable."""
    with secrets_scope() as scope:
        Secret("zzzz")
        Secret("prefix-zzzz")
        assert scope.known()[0] == "prefix-zzzz"
        assert redact("token prefix-zzzz and zzzz") == "token *** and ***"


def test_a_closed_scope_remembers_nothing_more() -> None:
    """A worker thread that still holds the scope of a finished command adds nothing to it."""
    with secrets_scope() as scope:
        Secret("during-the-command")
    assert scope.known() == []
    with use_scope(scope):
        Secret("after-the-command")
    assert scope.known() == [] and redact("after-the-command", scope=scope) == "after-the-command"
    assert repr(scope) == "SecretScope(0 value(s), closed)"


def test_a_scope_repr_counts_its_values_and_shows_none() -> None:
    with secrets_scope() as scope:
        Secret("visible/nowhere")
        assert repr(scope) == "SecretScope(2 value(s))", "the value and its URL-escaped form"
        assert "nowhere" not in repr(scope)


def test_a_scheme_credential_with_one_digit_or_capital_is_masked() -> None:
    assert redact("sent Bearer a1bcdefghijklmnopqrs") == "sent Bearer ***"
    assert redact("sent Bearer aBcdefghijklmnopqrs") == "sent Bearer ***"
    assert redact("Basic authentication-required") == "Basic authentication-required"


def test_a_filter_keeps_the_message_above_the_redacted_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("hoist.test-secret-filter-traceback")
    logger.addHandler(handler)
    try:
        with secrets_scope() as scope:
            handler.addFilter(RedactingFilter(scope))
            Secret("in-the-exception-7")
            try:
                raise RuntimeError("in-the-exception-7 failed")
            except RuntimeError:
                logger.error("copy of %s failed", "app", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("copy of app failed\nTraceback (most recent call last):\n"), text
    assert text.rstrip().endswith("RuntimeError: *** failed")
    assert text.count("Traceback") == 1, "the traceback is in the message once, not formatted again"
