"""Request and response shapes of sign-in, refresh and activation."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import BaseSchema, ReasonSchema


class StaffLoginSchema(BaseSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)


class RefreshSchema(BaseSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)


class TokenPairSchema(BaseSchema):
    token_type = fields.String(dump_only=True, metadata={"example": "Bearer"})
    access_token = fields.String(dump_only=True)
    access_expires_at = fields.AwareDateTime(dump_only=True)
    refresh_token = fields.String(dump_only=True)
    refresh_expires_at = fields.AwareDateTime(dump_only=True)


class ActivateSchema(BaseSchema):
    code = fields.String(
        required=True,
        # 12 characters of the code alphabet, in any case, with optional spaces or dashes.
        validate=validate.Regexp(
            r"^[ -]*(?:[0-9A-HJ-NP-TV-Za-hj-np-tv-zOoIiLl][ -]*){12}$",
            error="Expected 12 letters and digits, as printed: XXXX-XXXX-XXXX.",
        ),
        metadata={"example": "7K3M-Q9XD-2PA4"},
    )
    platform = fields.String(load_default=None, validate=validate.OneOf(("ios", "android")))
    app_version = fields.String(load_default=None, validate=validate.Length(min=1, max=32))


class ActivationResultSchema(TokenPairSchema):
    subject_code = fields.String(dump_only=True)


class ActivationCodeSchema(BaseSchema):
    code = fields.String(dump_only=True, metadata={"description": "Single use; read it out or show the QR code"})
    expires_at = fields.AwareDateTime(dump_only=True)
    qr_payload = fields.String(dump_only=True)
    qr_png_base64 = fields.String(dump_only=True, metadata={"description": "PNG image of the QR code, base64"})


class RevokeSessionsSchema(ReasonSchema):
    pass


class RevokedSchema(BaseSchema):
    sessions_revoked = fields.Integer(dump_only=True)
