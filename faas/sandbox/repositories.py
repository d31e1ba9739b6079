"""Which container images functions may run: the repository an image URI names, whether the operator
allows it (FAAS_IMAGE_REPOSITORIES), and the ECR-style ARN that permissions to use it are checked on."""

from __future__ import annotations

import re

# Docker's reference grammar (distribution/reference), without the upper-case and IPv6 corners it
# refuses anyway: [domain[:port]/]path[:tag][@sha256:digest]. Everything before the tag and digest is the
# repository, domain included, so `registry.example/faas/x` is not mistaken for the allowed `faas/x`.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# As in Docker, a first part is a registry only if it has a dot or a port or is localhost.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:localhost(?::[0-9]+)?|{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+)/"
IMAGE_URI_RE = re.compile(
    rf"(?P<repository>(?:{_DOMAIN})?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
MAX_URI_LENGTH = 512  # what Lambda accepts for ImageUri

# Using an image is pulling it: AWS asks the caller for both on the ECR repository.
IMAGE_ACTIONS: tuple[str, ...] = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def repository(uri: str) -> str | None:
    """The repository an image URI names (`faas/app` for `faas/app:1`), or None if it is not a reference."""
    if len(uri) > MAX_URI_LENGTH:
        return None
    match = IMAGE_URI_RE.fullmatch(uri)
    return match.group("repository") if match else None


def allowed(repo: str, prefixes: tuple[str, ...]) -> bool:
    """A repository may be used when it starts with one of the operator's prefixes (`faas/` allows `faas/app`,
    not `faas-other/app`: a prefix meant as a namespace ends with a slash)."""
    return any(repo.startswith(prefix) for prefix in prefixes)


def repository_arn(region: str, account_id: str, repo: str) -> str:
    return f"arn:aws:ecr:{region}:{account_id}:repository/{repo}"



def is_named(uri: str, repo_tags: list[str], repo_digests: list[str]) -> bool:
    """Whether an image the engine found for `uri` really carries that name. Engines can resolve
    `<any name>@<image id>` to the image with that id whatever its repository; only the image's own
    tags and digests count."""
    match = IMAGE_URI_RE.fullmatch(uri)
    if match is None:
        return False
    repo, tag, digest = match.group("repository", "tag", "digest")
    if digest:
        return f"{repo}@{digest}" in repo_digests
    return f"{repo}:{tag or 'latest'}" in repo_tags
