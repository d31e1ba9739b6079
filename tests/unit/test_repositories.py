"""faas.sandbox.repositories: the repository an image URI names, the allowed prefixes, the ECR-style ARN."""

from __future__ import annotations

import pytest

from faas.sandbox.repositories import IMAGE_ACTIONS, allowed, is_named, repository, repository_arn

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("uri", "repo"), [
    ("faas/app", "faas/app"),
    ("faas/app:1", "faas/app"),
    ("faas/app:v1.2-rc_3", "faas/app"),
    (f"faas/app@{DIGEST}", "faas/app"),
    (f"faas/app:1@{DIGEST}", "faas/app"),
    ("faas/team/app.x__y-z:latest", "faas/team/app.x__y-z"),
    ("app", "app"),
    ("localhost:5000/faas/app:1", "localhost:5000/faas/app"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/faas/app:1",
     "123456789012.dkr.ecr.us-east-1.amazonaws.com/faas/app"),
])
def test_repository_of_a_reference(uri, repo):
    assert repository(uri) == repo


@pytest.mark.parametrize("uri", [
    "", "faas/app:", "FAAS/app", "faas//app", "faas/../app", "/faas/app", "faas/app/", "faas/app:1 ",
    "faas/app@sha256:abc", "faas/app:" + "x" * 129, "faas/" + "a" * 600, "faas/app;rm -rf", "faas/-app",
])
def test_what_is_not_a_reference(uri):
    assert repository(uri) is None


def test_prefixes_are_plain_string_prefixes():
    assert allowed("faas/app", ("faas/",))
    assert allowed("faas/team/app", ("faas/",))
    assert not allowed("faas", ("faas/",))
    assert not allowed("faas-evil/app", ("faas/",))
    assert not allowed("registry.example/faas/app", ("faas/",))
    assert allowed("team-a/app", ("faas/", "team-a/"))
    assert not allowed("faas/app", ())


def test_repository_arn_and_actions_follow_ecr():
    assert repository_arn("eu-west-1", "123456789012", "faas/app") == \
        "arn:aws:ecr:eu-west-1:123456789012:repository/faas/app"
    assert IMAGE_ACTIONS == ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def test_an_image_must_carry_the_name_it_was_found_by():
    tags, digests = ["faas/app:1", "faas/app:latest"], [f"faas/app@{DIGEST}"]
    assert is_named("faas/app:1", tags, digests)
    assert is_named("faas/app", tags, digests)  # :latest
    assert is_named(f"faas/app@{DIGEST}", tags, digests)
    assert is_named(f"faas/app:9@{DIGEST}", tags, digests)  # the digest decides, as in Docker
    assert not is_named("faas/app:2", tags, digests)
    assert not is_named("faas/other:1", tags, digests)
    other = "sha256:" + "f" * 64  # e.g. another tenant's image id, given under an allowed name
    assert not is_named(f"faas/app@{other}", tags, digests)
    assert not is_named(f"faas/other@{DIGEST}", tags, digests)
    assert not is_named("faas/app:1", [], [])
    assert not is_named("not a reference", tags, digests)
