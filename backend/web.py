"""The web side of the application: the API's blueprints, the portal, request hooks and
error pages. `backend.app.create_app` adds it to the base app; cron jobs never import it."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from backend import errors
from backend.amputations.routes import blp as amputations_blp
from backend.api import Api, swagger_ui_assets
from backend.auth.access import authenticate_request
from backend.auth.routes import blp as auth_blp
from backend.config import Config
from backend.core import request_context
from backend.core.blueprint import IdConverter, id_param_schema, set_authenticator
from backend.diary.routes import blp as diary_blp
from backend.flags.routes import blp as flags_blp
from backend.health.routes import blp as health_blp
from backend.locks.routes import blp as locks_blp
from backend.mobile_sync.routes import blp as mobile_sync_blp
from backend.participants.routes import blp as participants_blp
from backend.portal.routes import blp as portal_blp
from backend.reminders.routes import blp as reminders_blp
from backend.symptoms.routes import blp as symptoms_blp
from backend.tasks.routes import blp as tasks_blp
from backend.trial_sync.routes import blp as trial_sync_blp
from backend.ulcers.routes import blp as ulcers_blp
from backend.walks.routes import blp as walks_blp

BLUEPRINTS = (
    health_blp,
    auth_blp,
    participants_blp,
    diary_blp,
    walks_blp,
    symptoms_blp,
    tasks_blp,
    mobile_sync_blp,
    flags_blp,
    ulcers_blp,
    amputations_blp,
    reminders_blp,
    trial_sync_blp,
    locks_blp,
)


def init_app(app: Flask, config: Config) -> None:
    app.config.update(**Api.flask_settings())
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)  # type: ignore[method-assign]

    request_context.init_app(app)
    set_authenticator(app, authenticate_request)
    app.register_blueprint(swagger_ui_assets)
    app.url_map.converters["id"] = IdConverter
    api = Api(app)
    api.register_converter(IdConverter, id_param_schema)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(portal_blp)  # HTML pages over the same services; not part of the API spec
    errors.init_app(app)  # after Api, so our envelope replaces flask-smorest's handler
