"""VM templates: /api/v1/templates."""

from fastapi import APIRouter, Request, Response

from plugboard.api.deps import API_PREFIX, CurrentUser, DbSession, audit_target
from plugboard.api.problems import responses
from plugboard.api.schemas import Name
from plugboard.api.vm_schemas import TemplateCreate, TemplateOut, TemplateUpdate
from plugboard.engine import templates

router = APIRouter(prefix="/templates", tags=["templates"], responses=responses(400, 401, 422))


@router.get("", summary="List the templates")
def list_templates(db: DbSession, _: CurrentUser) -> list[TemplateOut]:
    return [TemplateOut.from_template(t) for t in templates.list_templates(db)]


@router.post("", status_code=201, summary="Create a template", responses=responses(403, 409))
def create_template(
    body: TemplateCreate, db: DbSession, who: CurrentUser, request: Request, response: Response
) -> TemplateOut:
    audit_target(request, f"templates/{body.name}")
    template = templates.create_template(db, who, body.spec())
    response.headers["Location"] = f"{API_PREFIX}{router.prefix}/{template.name}"
    return TemplateOut.from_template(template)


@router.get("/{name}", summary="One template", responses=responses(404))
def get_template(name: Name, db: DbSession, _: CurrentUser) -> TemplateOut:
    return TemplateOut.from_template(templates.get_template(db, name))


@router.put("/{name}", summary="Replace a template", responses=responses(403, 404))
def replace_template(
    name: Name, body: TemplateUpdate, db: DbSession, who: CurrentUser
) -> TemplateOut:
    return TemplateOut.from_template(templates.replace_template(db, who, name, body.spec_for(name)))


@router.delete(
    "/{name}", status_code=204, summary="Delete a template", responses=responses(403, 404)
)
def delete_template(name: Name, db: DbSession, who: CurrentUser) -> Response:
    templates.delete_template(db, who, name)
    return Response(status_code=204)
