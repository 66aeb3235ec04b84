"""Every request two real Engage connectors are tested to send, as data: replayed against the
sandbox by test_connectors.py, which expects each to be accepted as Engage accepts it.

The requests are copied from the connectors' own test files (the expected outputs, or for
PostHog the body the test asserts), nothing added; only the credentials are the sandbox's.
List and user ids in them are the tests' placeholders: GIVEN names what the connectors' tests
assume Engage already holds (their mocks answer those calls with success), and the replay
creates it first, sending each list's real id where the placeholder stands.
"""

from __future__ import annotations

from typing import Any

# (where it comes from, method, path, JSON body or None)
Request = tuple[str, str, str, Any]

# What Engage holds before the replay: lists by placeholder id, and users by uid.
GIVEN: dict[str, list[str]] = {
    "lists": ["17"],
    "users": ["246", "2", "3", "4", "5", "6", "7", "8", "9", "12", "user_sdk2"],
}

_IDENTIFY_META = {
    "abc": "jbc",
    "city": "iudcb",
    "state": "Delhi",
    "title": "Mr",
    "hasPurchased": "yes",
}

# rudderlabs/rudder-transformer test/integrations/destinations/engage/processor/data.ts
# at commit 20a24893f3f511ea94709a8d74d11db0b3eeec19: each case's output.body JSON, method and
# endpoint (the cases whose output is an error send nothing).
RUDDERSTACK_PROCESSOR: list[Request] = [
    (
        "processor: [IDENTIFY] Create a new User with Metadata and lists from externalId",
        "PUT",
        "/v1/users/1",
        {
            "meta": _IDENTIFY_META,
            "email": "test@r.com",
            "lists": ["100c983ry8934hf3094yfh348gf1", "4r40hfio3rbfln"],
            "last_name": "doe",
            "created_at": "2020-09-29T14:50:29.907+05:30",
            "first_name": "test",
        },
    ),
    (
        "processor: [IDENTIFY] Update a User with UID and lists from Config",
        "PUT",
        "/v1/users/1",
        {
            "meta": _IDENTIFY_META,
            "email": "abc@xyz.com",
            "lists": ["9834trg3rgy3g08oi9893rgfb", "f39487tyh49go3h093gh2if2f2"],
            "last_name": "doe",
            "created_at": "2020-09-29T14:50:29.907+05:30",
            "first_name": "test",
        },
    ),
    (
        "processor: [IDENTIFY] Update a User with userId inside traits and no listIds",
        "PUT",
        "/v1/users/1",
        {
            "meta": {**_IDENTIFY_META, "state": "Lucknow", "userId": "1"},
            "email": "test@r.com",
            "last_name": "doe",
            "created_at": "2020-09-29T14:50:29.907+05:30",
            "first_name": "test",
        },
    ),
    (
        "processor: [TRACK] Send an Event with userId inside externalID",
        "POST",
        "/v1/users/1/events",
        {
            "event": "First Investment",
            "timestamp": "2020-09-28T19:53:31.900Z",
            "properties": {"revenue": 20.37566, "currency": "EUR"},
        },
    ),
    (
        "processor: [PAGE] Send an Event with userId not inside externalID",
        "POST",
        "/v1/users/1/events",
        {"event": "Viewed Help Contact Custom Page", "properties": {}},
    ),
    (
        "processor: [GROUP] Group user with list, engageID in externalId, operation not given",
        "PUT",
        "/v1/lists/17/subscribers/246",
        {"subscribed": "false"},
    ),
    (
        "processor: [GROUP] Create or update user with payload and link it with list",
        "POST",
        "/v1/lists/17/subscribers",
        {
            "meta": {"customField": "customValue"},
            "email": "lalu@xyz.com",
            "number": "634189314",
            "last_name": "Agarwal",
            "first_name": "Lalu",
            "subscribed": True,
        },
    ),
    (
        "processor: [GROUP] Remove user from List with externalID",
        "DELETE",
        "/v1/lists/17/subscribers/1",
        {"subscribed": True},
    ),
]

# rudderlabs/rudder-transformer test/integrations/destinations/engage/router/data.ts
# at commit 026e849a59338f06df146a607fe9d7749ca52476: each batchedRequest.
RUDDERSTACK_ROUTER: list[Request] = [
    (
        "router: Successfull Remove Group Call",
        "DELETE",
        "/v1/lists/17/subscribers/246",
        {"subscribed": True},
    ),
    (
        "router: Successfull Identify Call with userDi in externalId",
        "PUT",
        "/v1/users/1",
        {
            "meta": _IDENTIFY_META,
            "email": "Test@r.com",
            "lists": ["100c983ry8934hf3094yfh348gf1", "4r40hfio3rbfln"],
            "last_name": "Rudderlabs",
            "created_at": "2020-09-29T14:50:29.907+05:30",
            "first_name": "Test",
        },
    ),
]

# rudderlabs/rudder-transformer test/integrations/destinations/engage/deleteUsers/data.ts at
# commit 3bf7c3d8406ddab0846436cc1a504f643fa97594, with the calls its network.ts (commit
# 2029fb45e90e3a47d5486d9d610aabfc37d512f9) mocks: DELETE /v1/users/{userId} per user
# attribute (an attribute with only an email sends nothing; a config without the public key
# sends nothing). network.ts scripts 400s for users 1, 6 and 8 to test RudderStack's error
# path; Engage deletes a user it holds.
RUDDERSTACK_DELETE_USERS: list[Request] = [
    (f"deleteUsers: user {uid}", "DELETE", f"/v1/users/{uid}", None)
    for uid in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "12", "user_sdk2")
]

_PLUGIN_CONFIG = {"filter": "Send events for all users"}

# PostHog/posthog nodejs/src/cdp/legacy-plugins/_destinations/posthog-engage-so/index.test.ts
# at commit df56a0b2ef3cd0fc0e5160a085e40ae015106e63: the events the tests post, with the
# `config` that index.ts (commit b3cd2b303cdb7ef3eb8d8ec98d15cdf5d5916e2f) adds to each once
# it has taken the keys out.
POSTHOG_PLUGIN: list[Request] = [
    (
        "posthog plugin: $identify event (user)",
        "POST",
        "/posthog",
        {
            "event": "$identify",
            "distinct_id": "user01",
            "properties": {
                "$set": {"first_name": "User", "plan": "Pro"},
                "$set_once": {"last_name": "01"},
                "token": "[some token]",
                "distinct_id": "[distinct_id]",
            },
            "config": _PLUGIN_CONFIG,
        },
    ),
    (
        "posthog plugin: $identify event (group)",
        "POST",
        "/posthog",
        {
            "event": "$groupidentify",
            "distinct_id": "user01",
            "properties": {
                "$group_type": "company",
                "$group_key": "group123",
                "$group_set": {"name": "Group"},
            },
            "config": _PLUGIN_CONFIG,
        },
    ),
    (
        "posthog plugin: track user event",
        "POST",
        "/posthog",
        {
            "event": "newEvent",
            "distinct_id": "user01",
            "properties": {
                "$set": {"number": "08012345678", "currency": "NG"},
                "prop1": "val1",
                "prop2": "val2",
            },
            "config": _PLUGIN_CONFIG,
        },
    ),
    (
        "posthog plugin: track group event",
        "POST",
        "/posthog",
        {
            "event": "Played movie",
            "distinct_id": "user01",
            "properties": {"$groups": {"company": "group123"}, "prop1": "val1", "prop2": "val2"},
            "config": _PLUGIN_CONFIG,
        },
    ),
]

# PostHog/posthog posthog/cdp/templates/engage_so/test_template_engage_so.py at commit
# a308b1915456d095fe98c56319d6a6f4a69ea627 (template_engage_so.py at commit
# 72ec0f8478a935dd73324216fbda31c143b806ff): the body the test asserts, from
# BaseHogFunctionTemplateTest.createHogGlobals's event.
POSTHOG_TEMPLATE: list[Request] = [
    (
        "posthog template: test_function_works",
        "POST",
        "/posthog",
        {
            "event": "event-name",
            "distinct_id": "distinct-id",
            "properties": {"$current_url": "https://example.com"},
        },
    ),
]

ALL: list[Request] = [
    *RUDDERSTACK_PROCESSOR,
    *RUDDERSTACK_ROUTER,
    *RUDDERSTACK_DELETE_USERS,
    *POSTHOG_PLUGIN,
    *POSTHOG_TEMPLATE,
]
