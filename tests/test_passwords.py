"""Password hashing follows the policy: argon2's RFC 9106 cost in production, a cheap one only where a policy
asks for it (the tests' service)."""

from __future__ import annotations

from argon2 import profiles

from isap.policy import Policy
from isap.review.passwords import hash_password, verify_password, verify_unknown

CHEAP = Policy(password_hash_time_cost=1, password_hash_memory_kib=8, password_hash_parallelism=1)


def test_production_defaults_are_argon2s_rfc_9106_low_memory_profile():
    default, rfc = Policy(), profiles.RFC_9106_LOW_MEMORY
    assert (default.password_hash_time_cost, default.password_hash_memory_kib, default.password_hash_parallelism) \
        == (rfc.time_cost, rfc.memory_cost, rfc.parallelism) == (3, 65_536, 4)
    assert "$m=65536,t=3,p=4$" in hash_password("correct horse")
    assert "$m=65536,t=3,p=4$" in hash_password("correct horse", Policy())


def test_a_policy_sets_the_cost_of_new_hashes_and_any_hash_still_verifies():
    cheap = hash_password("correct horse", CHEAP)
    assert "$m=8,t=1,p=1$" in cheap
    assert verify_password(cheap, "correct horse") and not verify_password(cheap, "wrong")
    assert verify_password(hash_password("correct horse"), "correct horse")
    assert verify_unknown("anything", CHEAP) is False


def test_the_test_service_hashes_cheaply_through_its_policy(service):
    stored = service.user("alice").password_hash
    assert "$m=8,t=1,p=1$" in stored
    assert service.sign_in("alice", "correct horse")[0].username == "alice"
