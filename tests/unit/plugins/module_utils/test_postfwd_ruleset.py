"""Sending quotas rendered as a postfwd ruleset: layout, refusals, properties."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.mailguard.postfix.plugins.module_utils import postfwd_ruleset as pr

LAB = {
    "user_limits": {"messages_per_hour": 20, "recipients_per_hour": 40, "bytes_per_day": 10000000},
    "user_overrides": [{"user": "u1", "messages_per_hour": 5}],
    "client_limits": {"messages_per_hour": 30},
    "exempt_networks": ["192.0.2.0/28"],
    "exempt_users": ["webmail"],
    "exempt_senders": ["alerts@example.test"],
}


def ids(result):
    return [rule["id"] for rule in result["rules"]]


def rule(result, rule_id):
    return [r["text"] for r in result["rules"] if r["id"] == rule_id][0]


def test_every_line_is_a_rule_with_an_id_an_action_and_no_separator_in_its_reply():
    result = pr.build(LAB)
    lines = [line for line in result["ruleset"].splitlines() if not line.startswith("#")]
    assert len(lines) == result["rule_count"] == len(result["rules"])
    for line in lines:
        assert re.match(r"^id=MG_[A-Z0-9_]+; (?:[a-z_]+(?:==|=~|!=|=)[^;]+; )*action=\S", line), line
        action = line.split("action=", 1)[1]
        if "(" in action:
            inner = action[action.index("(") + 1:-1]
            assert not set(inner) & set(";()=,"), line


def test_only_end_of_message_is_counted_and_exemptions_come_before_any_limit():
    order = ids(pr.build(LAB))
    assert order[0] == "MG_ONLY_END_OF_MESSAGE"
    first_limit = min(i for i, name in enumerate(order) if name.startswith(("MG_USER_", "MG_SASL_", "MG_CLIENT_")))
    assert {"MG_EXEMPT_NETWORK_1", "MG_EXEMPT_USER_1", "MG_EXEMPT_SENDER_1"} <= set(order[:first_limit])
    assert order[-1] == "MG_DEFAULT"


def test_an_override_replaces_only_its_own_limit_and_stops_the_defaults_for_that_user():
    result = pr.build(LAB)
    assert result["user_overrides"]["u1"] == {"messages_per_hour": 5, "recipients_per_hour": 40,
                                              "bytes_per_day": 10000000}
    text = rule(result, "MG_USER_1_MESSAGES_PER_HOUR")
    assert "sasl_username==u1;" in text
    assert "rate(sasl_username/5/3600/450 4.7.1 messages_per_hour quota of 5 messages per hour exceeded for u1" in text
    order = ids(result)
    assert order.index("MG_USER_1_DONE") < order.index("MG_SASL_MESSAGES_PER_HOUR")


def test_a_null_override_lifts_that_default_for_the_user():
    intent = dict(LAB, user_overrides=[{"user": "bulk", "bytes_per_day": None}])
    result = pr.build(intent)
    assert "bytes_per_day" not in result["user_overrides"]["bulk"]
    assert "MG_USER_1_BYTES_PER_DAY" not in ids(result)


def test_a_null_default_limit_is_switched_off_and_the_others_stay():
    # The policy_service role merges a partial dict over its documented
    # defaults; null is how a user switches one of them off.
    intent = dict(LAB, user_limits={"messages_per_hour": 20, "recipients_per_hour": 40, "bytes_per_day": None},
                  client_limits={"messages_per_hour": None})
    result = pr.build(intent)
    assert result["user_limits"] == {"messages_per_hour": 20, "recipients_per_hour": 40}
    assert result["client_limits"] == {}
    assert "MG_SASL_BYTES_PER_DAY" not in ids(result)
    assert "MG_SASL_MESSAGES_PER_HOUR" in ids(result)
    assert not [i for i in ids(result) if i.startswith("MG_CLIENT_")]


def test_a_user_override_still_gets_the_defaults_that_are_switched_on():
    intent = dict(LAB, user_limits={"messages_per_hour": 20, "recipients_per_hour": 40, "bytes_per_day": None})
    assert pr.build(intent)["user_overrides"]["u1"] == {"messages_per_hour": 5, "recipients_per_hour": 40}


def test_recipient_and_byte_quotas_use_the_counters_postfwd_has_for_them():
    result = pr.build(LAB)
    assert "action=rcpt(sasl_username/40/3600/" in rule(result, "MG_SASL_RECIPIENTS_PER_HOUR")
    assert "action=size(sasl_username/10000000/86400/" in rule(result, "MG_SASL_BYTES_PER_DAY")
    assert "action=rate(client_address/30/3600/" in rule(result, "MG_CLIENT_MESSAGES_PER_HOUR")


def test_default_limits_apply_only_to_authenticated_users_and_name_them():
    text = rule(pr.build(LAB), "MG_SASL_MESSAGES_PER_HOUR")
    assert "sasl_username=~.;" in text
    assert "exceeded for $$sasl_username" in text


def test_no_limits_gives_a_ruleset_that_lets_everything_through():
    result = pr.build({})
    assert ids(result) == ["MG_ONLY_END_OF_MESSAGE", "MG_SASL_DONE", "MG_DEFAULT"]


@pytest.mark.parametrize("change, message", [
    ({"user_limits": {"messages_per_hour": 0}}, "user_limits.messages_per_hour is 0: a quota must be greater than 0"),
    ({"user_limits": {"messages_per_hour": 0}}, "to lift a limit, set it to null"),
    ({"user_limits": {"messages_per_hour": -5}}, "is -5: a quota must be greater than 0"),
    ({"client_limits": {"recipients_per_day": "many"}}, "client_limits.recipients_per_day is 'many'"),
    ({"user_limits": {"messages_per_hour": True}}, "give a whole number"),
    ({"user_limits": {"mails_per_hour": 5}}, "unknown limit 'mails_per_hour'; the limits are messages_per_hour"),
    ({"user_overrides": [{"user": "u1", "messages_per_minute": 1}]}, "user_overrides[0]: unknown limit"),
    ({"user_overrides": [{"user": "u1", "messages_per_hour": 0}]}, "user_overrides[0].messages_per_hour is 0"),
    ({"user_limits": {"messages_per_hour": 300, "messages_per_day": 200}},
     "messages_per_hour 300 is more than messages_per_day 200"),
    ({"user_limits": {"messages_per_hour": 50, "recipients_per_hour": 10}},
     "recipients_per_hour 10 is less than messages_per_hour 50"),
    ({"user_limits": {"messages_per_day": 100}, "user_overrides": [{"user": "u1", "messages_per_hour": 500}]},
     "user_overrides[0] (user u1, with the defaults of user_limits): messages_per_hour 500 is more than"),
    ({"user_overrides": [{"user": "u1", "messages_per_hour": 5}, {"user": "U1", "messages_per_hour": 6}]},
     "user_overrides[1]: user U1 already has limits in user_overrides[0]"),
    ({"exempt_users": ["u1"], "user_overrides": [{"user": "u1", "messages_per_hour": 5}]},
     "user u1 is also in exempt_users[0]; a user is either exempt or limited"),
    ({"exempt_users": ["a", "a"]}, "exempt_users[1] 'a' is listed twice"),
    ({"exempt_networks": ["10.0.0.0/8", "10.1.0.0/16"]}, "exempt_networks[1] 10.1.0.0/16 overlaps exempt_networks[0]"),
    ({"exempt_networks": ["10.0.0.1/8"]}, "exempt_networks[0] '10.0.0.1/8' is not a network"),
    ({"exempt_senders": ["x@y.test; action=OK"]}, "not a plain envelope sender"),
    ({"user_overrides": [{"user": "u1;id=x", "messages_per_hour": 1}]}, "is not a SASL user name"),
    ({"user_overrides": [{"messages_per_hour": 1}]}, "user_overrides[0] must be a mapping with a user"),
    ({"reply": "550 5.7.1"}, "must be a 4xx code"),
    ({"user_limits": ["messages_per_hour"]}, "user_limits must be a mapping"),
])
def test_bad_or_contradictory_quotas_are_refused_naming_the_input(change, message):
    with pytest.raises(pr.QuotaError) as exc:
        pr.build(dict(LAB, **change))
    assert message in str(exc.value)


QUOTA = st.integers(min_value=1, max_value=10 ** 6)


@given(limits=st.dictionaries(st.sampled_from(sorted(pr.LIMITS)), QUOTA),
       users=st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,8}\Z"), unique=True, max_size=4))
def test_every_accepted_intent_gives_each_limited_user_one_rule_per_limit_and_4xx_replies_only(limits, users):
    intent = {"user_limits": limits, "user_overrides": [{"user": u, "messages_per_hour": 1} for u in users]}
    try:
        result = pr.build(intent)
    except pr.QuotaError as exc:
        # Only the contradictions between quotas may refuse this input.
        assert "could never be reached" in str(exc)
        return
    rule_ids = ids(result)
    assert len(rule_ids) == len(set(rule_ids))
    for index, user in enumerate(users):
        own = [r for r in rule_ids if r.startswith("MG_USER_%d_" % (index + 1)) and not r.endswith("_DONE")]
        assert len(own) == len(result["user_overrides"][user])
    for line in result["ruleset"].splitlines():
        match = re.search(r"\((?:sasl_username|client_address)/(\d+)/(\d+)/(\S+)", line)
        if match:
            assert int(match.group(1)) > 0
            assert match.group(3).startswith("4")
