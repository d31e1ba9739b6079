"""Principals and access keys, for admins: listing, creating (a new key's secret is shown once), enabling,
disabling and deleting keys, deleting principals; each action authorised as the identity API's own."""

from __future__ import annotations

from aiohttp import web

from faas.api.console.web import ROOT, View, page, redirect
from faas.services.identities import ADMIN


@page
async def principals(view: View) -> web.Response:
    await view.authorize("faas:ListPrincipals")
    await view.authorize("faas:ListAccessKeys")
    return await _render(view)


async def _render(view: View, new_key: dict | None = None) -> web.Response:
    identities = view.ctx.identities
    listed = await identities.list_principals()
    keys = await identities.list_keys()
    for principal in listed:
        principal["Keys"] = [key for key in keys if key["Principal"] == principal["Name"]]
    return view.render("principals.html", principals=listed, new_key=new_key, admin=ADMIN,
                       may_create=await view.allowed("faas:CreatePrincipal"))


@page
async def create_principal(view: View) -> web.Response:
    await view.authorize("faas:CreatePrincipal")
    created = await view.ctx.identities.create_principal({"Name": view.form.get("name", ""),
                                                          "Kind": view.form.get("kind", "user")})
    view.audit("faas:CreatePrincipal", created["Arn"])
    return redirect(f"{ROOT}/principals")


@page
async def delete_principal(view: View) -> web.Response:
    name = view.request.match_info["principal"]
    arn = view.ctx.identities.user_arn(name)
    await view.authorize("faas:DeletePrincipal", arn)
    await view.ctx.identities.delete_principal(name)
    view.audit("faas:DeletePrincipal", arn)
    return redirect(f"{ROOT}/principals")


@page
async def create_key(view: View) -> web.Response:
    name = view.request.match_info["principal"]
    arn = view.ctx.identities.user_arn(name)
    # The page that shows the new secret lists principals and keys: checked first, so a key is never made
    # for a caller who could not then be shown its secret.
    await view.authorize("faas:ListPrincipals")
    await view.authorize("faas:ListAccessKeys")
    await view.authorize("faas:CreateAccessKey", arn)
    key_id, secret = await view.ctx.identities.create_key(name)
    view.audit("faas:CreateAccessKey", arn)
    # Rendered here, not redirected to: the secret is never stored in the clear, so this page is its one showing.
    return await _render(view, {"AccessKeyId": key_id, "SecretAccessKey": secret, "Principal": name})


async def _key_owner_arn(view: View, key_id: str) -> str:
    owner = await view.ctx.identities.key_owner(key_id)
    return view.ctx.identities.user_arn(owner) if owner else "*"


@page
async def update_key(view: View) -> web.Response:
    key_id = view.request.match_info["key"]
    arn = await _key_owner_arn(view, key_id)
    await view.authorize("faas:UpdateAccessKey", arn)
    await view.ctx.identities.set_key_enabled(key_id, view.form.get("enabled") == "true")
    view.audit("faas:UpdateAccessKey", arn)
    return redirect(f"{ROOT}/principals")


@page
async def delete_key(view: View) -> web.Response:
    key_id = view.request.match_info["key"]
    arn = await _key_owner_arn(view, key_id)
    await view.authorize("faas:DeleteAccessKey", arn)
    await view.ctx.identities.delete_key(key_id)
    view.audit("faas:DeleteAccessKey", arn)
    return redirect(f"{ROOT}/principals")


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/principals", principals)
    app.router.add_post(ROOT + "/principals", create_principal)
    app.router.add_post(ROOT + "/principals/{principal}/delete", delete_principal)
    app.router.add_post(ROOT + "/principals/{principal}/keys", create_key)
    app.router.add_post(ROOT + "/keys/{key}", update_key)
    app.router.add_post(ROOT + "/keys/{key}/delete", delete_key)
