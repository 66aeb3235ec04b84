"""Request models: strict pydantic models that validate a body before anything is sent.

Responses are not modelled: the API's objects pass through untouched, unknown fields kept.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engage_cli.errors import UsageError
from engage_cli.fields import EMAIL_PATTERN, NUMBER_PATTERN
from engage_cli.ids import UID_RULE, is_valid_uid
from engage_cli.strict import parse_iso8601

# A meta value, event value or property value: string, number or boolean; never null,
# an array or an object. Bool comes first so `true` is not read as the number 1.
Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr]
ScalarMap = dict[StrictStr, Scalar]

# Checked with fullmatch: `$` would let a trailing newline through (as fields.py's patterns).
URL_PATTERN = re.compile(r"https?://[^\s/?#]+[^\s]*")


def check_date(value: str) -> str:
    """A valid ISO 8601 date or date-time, read as the API reads it; kept exactly as given."""
    try:
        parse_iso8601(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a valid ISO 8601 date (e.g. 2021-01-12T05:24:39.062+00:00)"
        ) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)
    label: ClassVar[str] = "request"

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # Leaving a field out is how to not send it; an explicit null is a mistake.
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None and key in cls.model_fields:
                    raise ValueError(f"{key}: must not be null (leave the field out instead)")
        return data

    def body(self, order: list[str] | None = None) -> dict[str, Any]:
        """The JSON body: only the fields given, in the user's order when known."""
        dumped = self.model_dump(exclude_unset=True, mode="json")
        if not order or list(dumped) == order:  # often in that order already: no copy
            return dumped
        ordered = {k: dumped[k] for k in order if k in dumped}
        if len(ordered) < len(dumped):  # a field the user did not name (none, as a rule)
            ordered.update({k: v for k, v in dumped.items() if k not in ordered})
        return ordered


class _PersonFields(_Strict):
    """What describes a person: a user's fields, and a list subscriber's."""

    first_name: StrictStr | None = None
    last_name: StrictStr | None = None
    email: StrictStr | None = None
    number: StrictStr | None = None
    meta: ScalarMap | None = None
    created_at: StrictStr | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not an email address (something@something)")
        return value

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a JSON number of digits is what the user meant
        if isinstance(value, str) and not NUMBER_PATTERN.fullmatch(value):
            if value.startswith("+") and NUMBER_PATTERN.fullmatch(value[1:]):
                # E.164 (+2348012345678) is the same number; Engage documents it without
                # the +, so that is the form sent.
                return value[1:]
            raise ValueError(
                f"{value!r} must be in international format, digits only with an optional "
                "leading + (no spaces or dashes), e.g. 2348012345678"
            )
        return value

    @field_validator("created_at")
    @classmethod
    def _created_at(cls, value: str) -> str:
        return check_date(value)


NonEmpty = Annotated[StrictStr, Field(min_length=1)]
ListIds = Annotated[list[NonEmpty], Field(min_length=1)]


class _UserFields(_PersonFields):
    """Create and update also register a device and choose customer or account."""

    device_token: NonEmpty | None = None
    device_platform: Literal["android", "ios"] | None = None
    is_account: StrictBool | None = None
    lists: list[NonEmpty] | None = None

    @model_validator(mode="after")
    def _device_pair(self) -> _UserFields:
        # The API registers a device from the two together.
        given = self.model_fields_set & {"device_token", "device_platform"}
        if len(given) == 1:
            missing = ({"device_token", "device_platform"} - given).pop()
            raise ValueError(f"{missing}: is required with {given.pop()}")
        return self


def check_uid(value: str) -> str:
    """The one rule for a uid that creates a user (create, an upsert import)."""
    if not is_valid_uid(value):
        raise ValueError(f"{value!r} is not a user id: it may only be {UID_RULE}")
    return value


# A uid that creates a user: reachable by every later command.
Uid = Annotated[StrictStr, Field(min_length=1), AfterValidator(check_uid)]


class UserCreate(_UserFields):
    """POST /users."""

    label = "user"

    id: Uid

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("a list id cannot be empty")
        return value


class UserUpdate(_UserFields):
    """PUT /users/{uid}: any of the fields; meta merges into the stored meta, lists subscribe."""

    label = "user update"


class UserUpsert(UserUpdate):
    """PUT /users/{uid} from an import, which creates the users it does not find: its uid
    (`id`, not sent in the body) holds to the rule of create."""

    id: Uid


class UserMerge(_Strict):
    """POST /users/merge: the source is folded into the destination, then deleted."""

    label = "merge"

    source: NonEmpty
    destination: NonEmpty

    @model_validator(mode="after")
    def _two_users(self) -> UserMerge:
        if self.source == self.destination:
            raise ValueError(f"destination: cannot be the source itself ({self.source!r})")
        return self


class UserConvert(_Strict):
    """POST /users/{uid}/convert."""

    label = "conversion"

    type: Literal["account", "customer"]


class AccountMembership(_Strict):
    id: NonEmpty
    role: NonEmpty | None = None


class AccountsAdd(_Strict):
    """POST /users/{uid}/accounts."""

    label = "accounts"

    accounts: Annotated[list[AccountMembership], Field(min_length=1)]


class AccountRole(_Strict):
    """PUT /users/{uid}/accounts/{aid}."""

    label = "account role"

    role: NonEmpty


class UserLists(_Strict):
    """POST and DELETE /users/{uid}/lists."""

    label = "lists"

    lists: ListIds


class ListUpdate(_Strict):
    """PUT /lists/{id}: any of the fields."""

    label = "list"

    title: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    description: Annotated[StrictStr, Field(max_length=255)] | None = None
    redirect_url: StrictStr | None = None
    double_optin: StrictBool | None = None

    @field_validator("redirect_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not URL_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class ListCreate(ListUpdate):
    """POST /lists."""

    title: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class ListSubscribe(_PersonFields):
    """POST /lists/{id}/subscribers: matched to a user by email, else number, else new."""

    label = "subscriber"

    @model_validator(mode="after")
    def _someone(self) -> ListSubscribe:
        if self.email is None and self.number is None:
            raise ValueError("email: is required (or number): the API finds the user by them")
        return self


class EventCreate(_Strict):
    """POST /users/{uid}/events."""

    label = "event"

    event: Annotated[StrictStr, Field(min_length=1)]
    value: Scalar | None = None
    timestamp: StrictStr | None = None
    properties: ScalarMap | None = None

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the event name cannot be blank")
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        return check_date(value)


_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be a number",
    "bool_type": "must be true or false",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",  # not pydantic's "... instance of AccountMembership"
    "list_type": "must be an array",
    "extra_forbidden": "is not a field of this request",
    "missing": "is required",
}


def _message(err: Any) -> str:
    context = err.get("ctx") or {}
    kind = err["type"]
    if kind == "literal_error":
        return f"must be {context.get('expected')}"
    if kind in ("string_too_short", "too_short") and context.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters"
    return _TYPE_MESSAGES.get(kind, str(err["msg"]))


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, naming the field (`meta.age: ...`)."""
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        # A union of scalars reports once per member type: say it once, plainly.
        scalar_members = {"bool", "int", "float", "str"}
        if loc and loc[-1] in scalar_members:
            loc = loc[:-1]
            message = "must be a string, number or boolean (not null, an array or an object)"
        elif err["type"] == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = _message(err)
        field = ".".join(loc)  # none for a model's own check: its message names the field
        line = f"{field}: {message}" if field else message
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def validate(model: type[_Strict], data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate a body and return it as it will be sent; raise UsageError naming fields."""
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc)
        prefix = f"{where}: " if where else ""
        raise UsageError(
            f"{prefix}invalid {model.label}: " + "; ".join(problems) + ".",
        ) from None
    return instance.body(order=list(data))
