"""The matching engine, rule by rule and edge by edge (pure Python: no database)."""

import pytest

from reconciliation.matching import (
    CHARGEBACK,
    CREDIT,
    CUSTOMER_AMOUNT,
    CUSTOMER_VARIANCE,
    DUPLICATE,
    MISMATCH,
    MISSING,
    OVERPAYMENT,
    PAUSE,
    REFERENCE,
    RETRY,
    REVOKE,
    UNDERPAYMENT,
    Coverage,
    MandateAction,
    OpenItem,
    Unallocation,
    Waiting,
    normalize_reference,
)
from tests.reconciliation.matching_kit import (
    ACCOUNT,
    POLICY,
    allocated,
    apply,
    cust,
    day,
    exp,
    finding,
    given,
    kinds,
    pay,
    ref,
    run,
    stored,
)

ACME = cust(1, "Ann Lee", account="acct-ann", ref="CUST-001")
BOB = cust(2, "Bob Stone", account="acct-bob", ref="CUST-002")
# As of 2026-01-20 a payment due 2026-01-09 or before is past grace (10 days).
LATER = POLICY._replace(as_of=day("2026-01-20"))


# ---------------------------------------------------------------- references


@pytest.mark.parametrize("text", [
    "ACME-000001-01",
    "acme 000001 01",
    "ACME000001-01",
    "ACME00000101",
    "inv ACME-000001-01 thanks",
    "Ref:acme/000001/01. January rent",
    "ACME-000001-\n01",
])
def test_a_reference_is_found_whatever_its_case_spacing_separators_and_surrounding_words(text):
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text=text)], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    assert result.allocations[0].explanation == "matched by reference ACME-000001-01 in the remittance text"
    assert result.settled_expected == [1]
    assert result.identified == {10: 1}
    assert result.findings == []


@pytest.mark.parametrize("text", ["ACME-000001-011", "XACME-000001-01", "ACME-000001", "ACME 0000010 1x"])
def test_a_longer_or_glued_number_is_not_the_reference(text):
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text=text)], customers=[ACME])

    assert result.allocations == []
    assert kinds(result) == [MISMATCH]  # nobody identified: payer mismatch


def test_normalize_reference_keeps_capitals_and_digits():
    assert normalize_reference(" acme-000123/03 ") == "ACME00012303"


def test_the_schedules_crm_reference_settles_its_oldest_open_payment():
    expected = [
        exp(1, due="2026-01-05", schedule_ref="CRM-77", settled=True, paid=10000),
        exp(2, due="2026-02-05", schedule_ref="CRM-77"),
        exp(3, due="2026-03-05", schedule_ref="CRM-77"),
    ]
    _, result = given(expected=expected, received=[pay(10, 10000, text="contract crm 77")], customers=[ACME])

    assert allocated(result) == [(10, 2, 10000, REFERENCE)]
    assert result.allocations[0].explanation == (
        "matched by schedule reference CRM-77 in the remittance text: ACME-000001-02 due 2026-02-05")


def test_the_schedules_crm_reference_settles_the_next_ones_too_when_the_money_covers_them():
    expected = [exp(n, due=f"2026-0{n}-05", schedule_ref="CRM-77") for n in (1, 2, 3)]
    _, result = given(expected=expected, received=[pay(10, 20000, text="CRM-77")], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, REFERENCE), (10, 2, 10000, REFERENCE)]
    assert result.findings == []


def test_a_payment_quoting_several_references_settles_those_in_due_order():
    expected = [exp(1, due="2026-01-05"), exp(2, due="2026-02-05"), exp(3, due="2026-03-05")]
    text = f"{ref(1, 3)} and {ref(1, 1)}"
    _, result = given(expected=expected, received=[pay(10, 15000, text=text)], customers=[ACME])

    # Oldest first: the first is paid in full, the rest goes to the other one quoted.
    assert allocated(result) == [(10, 1, 10000, REFERENCE), (10, 3, 5000, REFERENCE)]
    assert finding(result, UNDERPAYMENT).expected_id == 3


def test_one_payment_quoting_the_references_of_two_customers_settles_both():
    expected = [exp(1, customer=1, schedule=1), exp(2, customer=2, schedule=2)]
    _, result = given(expected=expected, received=[pay(10, 20000, text=f"{ref(1, 1)} {ref(2, 2)}")],
                      customers=[cust(1), cust(2)])

    assert allocated(result) == [(10, 1, 10000, REFERENCE), (10, 2, 10000, REFERENCE)]
    assert result.identified == {10: 1}


def test_two_customers_paying_one_reference_the_first_settles_the_other_is_an_account_mismatch():
    inputs, result = given(
        expected=[exp(1, customer=1)],
        received=[pay(10, 10000, text=ref(1, 1), account="acct-ann", on="2026-01-05"),
                  pay(11, 10000, text=ref(1, 1), account="acct-bob", on="2026-01-06")],
        customers=[ACME, BOB],
    )

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    mismatch = finding(result, MISMATCH)
    assert (mismatch.fingerprint, mismatch.mismatch_field, mismatch.low_priority) == ("mismatch:account:11", "account", False)
    assert mismatch.payment_ids == (11,)
    assert [c[1] for c in result.credits] == []  # payment 11 is not anyone's credit


def test_a_reference_match_in_another_currency_is_a_mismatch_not_settled():
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text=ref(1, 1), currency="EUR")], customers=[ACME])

    assert result.allocations == []
    mismatch = finding(result, MISMATCH)
    assert (mismatch.fingerprint, mismatch.mismatch_field) == ("mismatch:currency:10", "currency")
    assert "EUR" in mismatch.summary and "ACME-000001-01" in mismatch.summary


def test_a_reference_match_from_another_account_than_the_customers_is_settled_with_a_low_priority_review():
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text=ref(1, 1), account="acct-other")],
                      customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    mismatch = finding(result, MISMATCH)
    assert (mismatch.mismatch_field, mismatch.low_priority, mismatch.expected_id) == ("account", True, 1)


@pytest.mark.parametrize("customer_account,payer_account", [("", "acct-other"), ("acct-ann", "")])
def test_accounts_are_not_compared_when_either_side_has_none(customer_account, payer_account):
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text=ref(1, 1), account=payer_account)],
                      customers=[ACME._replace(account_hash=customer_account)])

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    assert result.findings == []


def test_a_reference_match_above_the_tolerance_is_an_overpayment_and_the_rest_is_credit():
    _, result = given(expected=[exp(1)], received=[pay(10, 12500, text=ref(1, 1))], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    over = finding(result, OVERPAYMENT)
    assert (over.fingerprint, over.amount_expected, over.amount_actual) == ("overpayment:10", 10000, 12500)
    assert result.credits == [(1, 10, 2500)]


# ---------------------------------------------------------------- customer + amount + window


def test_payer_account_and_amount_match_with_words():
    _, result = given(expected=[exp(1, amount=15000)], received=[pay(10, 15000, account="acct-ann")],
                      customers=[ACME])

    assert allocated(result) == [(10, 1, 15000, CUSTOMER_AMOUNT)]
    assert result.allocations[0].explanation == "matched by payer account on file and amount 150.00 due 2026-01-05"
    assert result.identified == {10: 1}
    assert result.counts["matched_customer_amount"] == 1


def test_the_customers_crm_reference_in_the_text_identifies_the_payer():
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, text="cust 001 january")], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, CUSTOMER_AMOUNT)]
    assert "customer reference CUST-001 in the remittance text" in result.allocations[0].explanation
    assert result.identified == {10: 1}


def test_the_customer_the_import_named_is_the_payer_and_is_not_recorded_again():
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, customer=1)], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, CUSTOMER_AMOUNT)]
    assert result.identified == {}


@pytest.mark.parametrize("amount,rule,found", [
    (9900, CUSTOMER_AMOUNT, []),  # exactly the tolerance below
    (9899, CUSTOMER_VARIANCE, [UNDERPAYMENT]),  # one cent more
    (10100, CUSTOMER_AMOUNT, []),  # exactly the tolerance above: the cent rest is credit
    (10101, CUSTOMER_VARIANCE, [OVERPAYMENT]),
])
def test_absolute_tolerance_boundaries(amount, rule, found):
    _, result = given(expected=[exp(1)], received=[pay(10, amount, customer=1)], customers=[ACME])

    assert allocated(result) == [(10, 1, min(amount, 10000), rule)]
    assert kinds(result) == found
    assert result.settled_expected == ([1] if amount >= 9900 else [])


@pytest.mark.parametrize("amount,matched", [(98500, True), (98499, False), (101500, True), (101501, False)])
def test_percent_tolerance_boundaries(amount, matched):
    policy = POLICY._replace(tolerance_cents=0, tolerance_bp=150)  # 1.5% of 1,000.00 = 15.00
    _, result = given(policy=policy, expected=[exp(1, amount=100000)], received=[pay(10, amount, customer=1)],
                      customers=[ACME])

    assert result.allocations[0].rule == (CUSTOMER_AMOUNT if matched else CUSTOMER_VARIANCE)


def test_the_larger_of_the_absolute_and_the_percent_tolerance_applies():
    policy = POLICY._replace(tolerance_cents=100, tolerance_bp=150)  # 1.5% of 10.00 = 0.15 < 1.00
    _, result = given(policy=policy, expected=[exp(1, amount=1000)], received=[pay(10, 900, customer=1)],
                      customers=[ACME])
    assert result.allocations[0].rule == CUSTOMER_AMOUNT

    _, result = given(policy=policy, expected=[exp(1, amount=1000)], received=[pay(10, 899, customer=1)],
                      customers=[ACME])
    assert result.allocations[0].rule == CUSTOMER_VARIANCE


@pytest.mark.parametrize("on,rule", [
    ("2025-12-31", CUSTOMER_AMOUNT),  # due - 5 days: the window's first day
    ("2026-01-10", CUSTOMER_AMOUNT),  # due + 5 days: its last day
    ("2026-01-11", CREDIT),  # a day late: not matched by amount, applied as the customer's credit
])
def test_window_boundaries(on, rule):
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, customer=1, on=on)], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, rule)]


def test_a_day_before_the_window_nothing_is_due_yet_so_it_is_held_as_credit():
    policy = POLICY._replace(as_of=day("2025-12-30"))
    _, result = given(policy=policy, expected=[exp(1)], received=[pay(10, 10000, customer=1, on="2025-12-30")],
                      customers=[ACME])

    assert result.allocations == []
    over = finding(result, OVERPAYMENT)
    assert "nothing due" in over.summary
    assert result.credits == [(1, 10, 10000)]


def test_one_payment_settles_several_of_one_customer_oldest_first_when_the_sum_fits():
    expected = [exp(1, due="2026-01-05"), exp(2, due="2026-01-08", amount=5000), exp(3, due="2026-01-09")]
    _, result = given(expected=expected, received=[pay(10, 15000, customer=1, on="2026-01-09")], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, CUSTOMER_AMOUNT), (10, 2, 5000, CUSTOMER_AMOUNT)]
    assert result.findings == []
    assert sorted(result.settled_expected) == [1, 2]


def test_an_overdue_payment_outside_the_window_does_not_block_the_one_inside():
    policy = POLICY._replace(as_of=day("2026-02-08"))
    expected = [exp(1, due="2026-01-05"), exp(2, due="2026-02-05")]
    _, result = given(policy=policy, expected=expected, received=[pay(10, 10000, customer=1, on="2026-02-05")],
                      customers=[ACME])

    assert allocated(result) == [(10, 2, 10000, CUSTOMER_AMOUNT)]
    assert finding(result, MISSING).expected_id == 1


def test_two_payments_settle_one_in_the_same_run():
    _, result = given(expected=[exp(1)],
                      received=[pay(10, 6000, customer=1, on="2026-01-04"), pay(11, 4000, customer=1, on="2026-01-05")],
                      customers=[ACME])

    assert allocated(result) == [(10, 1, 6000, CUSTOMER_VARIANCE), (11, 1, 4000, CUSTOMER_VARIANCE)]
    assert result.findings == []  # paid in full by the end of the run: no underpayment
    assert result.settled_expected == [1]


def test_partial_then_the_rest_resolves_the_underpayment():
    inputs, first = given(expected=[exp(1)], received=[pay(10, 6000, customer=1)], customers=[ACME])
    under = finding(first, UNDERPAYMENT)
    assert (under.expected_id, under.amount_expected, under.amount_actual) == (1, 10000, 6000)
    assert first.settled_expected == []

    later = apply(first, inputs)
    later = later._replace(received=later.received + (pay(11, 4000, customer=1, on="2026-01-07"),))
    second = run(later)

    assert allocated(second) == [(11, 1, 4000, CUSTOMER_AMOUNT)]
    assert second.findings == []
    assert [r.fingerprint for r in second.resolutions] == [under.fingerprint]
    assert second.resolutions[0].payment_ids == (11,)
    assert second.settled_expected == [1]


def test_customer_variance_overpayment_keeps_the_rest_as_credit():
    _, result = given(expected=[exp(1)], received=[pay(10, 13000, customer=1)], customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, CUSTOMER_VARIANCE)]
    assert finding(result, OVERPAYMENT).amount_actual == 13000
    assert result.credits == [(1, 10, 3000)]


def test_another_currency_is_not_matched_by_customer():
    _, result = given(expected=[exp(1)], received=[pay(10, 10000, customer=1, currency="EUR")], customers=[ACME])

    assert result.allocations == []
    assert kinds(result) == [OVERPAYMENT]  # held as the customer's credit in EUR
    assert result.credits == [(1, 10, 10000)]


# ---------------------------------------------------------------- credit


def test_credit_held_is_applied_by_a_later_run_when_something_falls_due():
    policy = POLICY._replace(as_of=day("2026-01-20"))
    inputs, first = given(policy=policy, expected=[exp(1, due="2026-02-05")],
                          received=[pay(10, 10000, customer=1, on="2026-01-15")], customers=[ACME])
    assert finding(first, OVERPAYMENT).fingerprint == "overpayment:10"
    assert first.credits == [(1, 10, 10000)]

    later = apply(first, inputs)
    later = later._replace(policy=policy._replace(as_of=day("2026-02-06")))
    second = run(later)

    assert allocated(second) == [(10, 1, 10000, CREDIT)]
    assert "applied from the customer's credit (payment 10" in second.allocations[0].explanation
    assert [r.fingerprint for r in second.resolutions] == ["overpayment:10"]
    assert second.findings == [] and second.credits == []
    assert second.counts["matched_credit"] == 1


def test_the_rest_of_an_earlier_payment_goes_to_the_credit_pass_only():
    # Payment 10 paid ACME-000001-01 before; its 100.00 rest is not a duplicate of that reference.
    _, result = given(
        expected=[exp(1, paid=10000, settled=True), exp(2, due="2026-01-10")],
        received=[pay(10, 20000, unallocated=10000, customer=1, text=ref(1, 1), on="2026-01-05")],
        settled=[stored(10, 1, 10000, customer=1)], customers=[ACME],
    )

    assert allocated(result) == [(10, 2, 10000, CREDIT)]
    assert result.findings == []


# ---------------------------------------------------------------- duplicates


@pytest.mark.parametrize("on,duplicate", [("2026-01-15", True), ("2026-01-16", False)])
def test_a_second_payment_for_a_settled_reference_from_the_same_payer_inside_the_window(on, duplicate):
    policy = POLICY._replace(as_of=day("2026-01-20"))
    _, result = given(
        policy=policy, expected=[exp(1, paid=10000, settled=True)],
        received=[pay(11, 10000, text=ref(1, 1), account="acct-ann", on=on)],
        settled=[stored(10, 1, 10000, on="2026-01-05", account="acct-ann", customer=1)], customers=[ACME],
    )

    if duplicate:
        dup = finding(result, DUPLICATE)
        assert (dup.fingerprint, dup.payment_ids, dup.expected_id) == ("duplicate:11", (11, 10), 1)
        assert result.credits == []
    else:
        # Outside the window the old reference is stale: the customer's money, held as credit.
        assert kinds(result) == [OVERPAYMENT]
        assert result.credits == [(1, 11, 10000)]
    assert result.allocations == []


def test_a_duplicate_in_the_same_run():
    _, result = given(expected=[exp(1)],
                      received=[pay(10, 10000, text=ref(1, 1), on="2026-01-05"),
                                pay(11, 10000, text=ref(1, 1), on="2026-01-06")],
                      customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, REFERENCE)]
    assert finding(result, DUPLICATE).payment_ids == (11, 10)


def test_a_second_payment_from_another_customers_account_is_a_mismatch_not_a_duplicate():
    _, result = given(
        expected=[exp(1, paid=10000, settled=True)],
        received=[pay(11, 10000, text=ref(1, 1), account="acct-bob", on="2026-01-07")],
        settled=[stored(10, 1, 10000, account="acct-ann", customer=1)], customers=[ACME, BOB],
    )

    mismatch = finding(result, MISMATCH)
    assert (mismatch.mismatch_field, mismatch.low_priority) == ("account", False)
    assert result.allocations == []


# ---------------------------------------------------------------- missing


def test_missing_past_grace_when_the_statements_are_in():
    _, result = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME])

    missing = finding(result, MISSING)
    assert (missing.fingerprint, missing.expected_id, missing.amount_expected) == ("missing:1", 1, 10000)


@pytest.mark.parametrize("due,is_missing", [("2026-01-09", True), ("2026-01-10", False)])
def test_grace_boundary(due, is_missing):
    _, result = given(policy=LATER, expected=[exp(1, due=due)], customers=[ACME])  # due + 10 days < 01-20

    assert kinds(result) == ([MISSING] if is_missing else [])


def test_missing_is_held_back_until_every_accounts_statements_are_in():
    coverage = [Coverage(ACCOUNT, day("2026-12-31")), Coverage("GB-EUR-2", day("2026-01-14"))]
    _, result = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME], coverage=coverage)

    assert result.findings == []
    assert result.waiting == [Waiting(1, ("GB-EUR-2",))]  # needs 01-15 (due + grace)
    assert result.counts["waiting"] == 1

    coverage[1] = Coverage("GB-EUR-2", day("2026-01-15"))
    _, result = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME], coverage=coverage)
    assert kinds(result) == [MISSING]


def test_with_no_statement_accounts_at_all_everything_past_grace_waits():
    _, result = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME], coverage=[])

    assert result.findings == []
    assert result.waiting == [Waiting(1, ())]


def test_an_expected_payment_with_an_open_item_gets_no_second_one():
    open_item = OpenItem("missing:1", MISSING, 1, ())
    _, result = given(policy=LATER, expected=[exp(1)], customers=[ACME], open_items=[open_item])

    assert result.findings == []


def test_a_missing_payment_that_arrives_later_resolves_the_missing_item():
    inputs, first = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME])
    assert kinds(first) == [MISSING]

    later = apply(first, inputs)
    later = later._replace(received=(pay(10, 10000, text=ref(1, 1), on="2026-01-19"),))
    second = run(later)

    assert allocated(second) == [(10, 1, 10000, REFERENCE)]
    assert [(r.fingerprint, r.payment_ids) for r in second.resolutions] == [("missing:1", (10,))]
    assert "payment 10 on 2026-01-19" in second.resolutions[0].reason
    assert second.findings == []


def test_a_partial_payment_of_a_missing_one_turns_the_missing_item_into_an_underpayment():
    inputs, first = given(policy=LATER, expected=[exp(1, due="2026-01-05")], customers=[ACME])
    later = apply(first, inputs)
    second = run(later._replace(received=(pay(10, 4000, text=ref(1, 1), on="2026-01-19"),)))

    assert [r.fingerprint for r in second.resolutions] == ["missing:1"]
    assert kinds(second) == [UNDERPAYMENT]


# ---------------------------------------------------------------- reversals, returns, chargebacks


def test_a_chargeback_undoes_the_allocation_reopens_the_payment_and_is_its_one_item():
    policy = POLICY._replace(as_of=day("2026-01-25"))
    _, result = given(
        policy=policy, expected=[exp(1, paid=10000, settled=True)],
        received=[pay(20, -10000, kind="chargeback", reverses=10, on="2026-01-22", code="MD06")],
        settled=[stored(10, 1, 10000)], customers=[ACME],
    )

    assert result.unallocations == [Unallocation(10, 1, 10000, 20)]
    assert result.reopened_expected == [1]
    cb = finding(result, CHARGEBACK)  # and no "missing", though 01-05 is past grace
    assert (cb.expected_id, cb.return_code, cb.payment_ids) == (1, "MD06", (20, 10))
    assert result.mandate_actions == []  # not autopay


def test_the_reversal_of_a_split_payment_undoes_the_newest_allocation_first():
    expected = [exp(1, due="2026-01-05", paid=10000, settled=True), exp(2, due="2026-02-05", paid=10000, settled=True)]
    _, result = given(
        expected=expected,
        received=[pay(20, -15000, kind="reversal", reverses=10, on="2026-01-12")],
        settled=[stored(10, 1, 10000), stored(10, 2, 10000)], customers=[ACME],
    )

    assert sorted(result.unallocations) == [Unallocation(10, 1, 5000, 20), Unallocation(10, 2, 10000, 20)]
    assert sorted(result.reopened_expected) == [1, 2]
    assert sorted(f.fingerprint for f in result.findings) == ["chargeback:1:20", "chargeback:2:20"]


def test_a_reversal_not_linked_is_found_by_payer_account_amount_and_reference():
    _, result = given(
        expected=[exp(1, paid=10000, settled=True), exp(2, paid=10000, settled=True)],
        received=[pay(20, -10000, kind="reversal", account="acct-ann", text=f"RETURN {ref(1, 2)}", on="2026-01-12")],
        settled=[stored(10, 1, 10000, account="acct-ann"), stored(11, 2, 10000, account="acct-ann")],
        customers=[ACME],
    )

    assert result.unallocations == [Unallocation(11, 2, 10000, 20)]


def test_a_reversal_of_nothing_allocated_is_logged_as_a_chargeback_to_look_at():
    _, result = given(received=[pay(20, -5000, kind="chargeback", on="2026-01-12")], customers=[ACME])

    cb = finding(result, CHARGEBACK)
    assert (cb.fingerprint, cb.expected_id) == ("chargeback:20", None)


@pytest.mark.parametrize("code,action", [
    ("R01", RETRY), ("R09", RETRY), ("R02", PAUSE), ("R03", PAUSE), ("R04", PAUSE),
    ("R07", REVOKE), ("R08", REVOKE), ("R10", REVOKE), ("AC04", None),
])
def test_nacha_return_codes_act_on_the_autopay_mandate(code, action):
    _, result = given(
        expected=[exp(1, schedule=7, paid=10000, settled=True, autopay=True)],
        received=[pay(20, -10000, kind="reversal", reverses=10, code=code, on="2026-01-08")],
        settled=[stored(10, 1, 10000)], customers=[ACME],
    )

    assert result.mandate_actions == ([MandateAction(7, 1, action, code, 20)] if action else [])
    assert finding(result, CHARGEBACK).return_code == code


def test_a_reopened_payment_with_an_open_underpayment_gets_no_second_item():
    _, result = given(
        expected=[exp(1, paid=6000)],
        received=[pay(20, -6000, kind="reversal", reverses=10, on="2026-01-08")],
        settled=[stored(10, 1, 6000)], customers=[ACME],
        open_items=[OpenItem("underpayment:1:6000", UNDERPAYMENT, 1, (10,))],
    )

    assert result.unallocations == [Unallocation(10, 1, 6000, 20)]
    assert result.findings == []


def test_a_reopened_payment_paid_again_resolves_the_chargeback():
    inputs, first = given(
        expected=[exp(1, paid=10000, settled=True)],
        received=[pay(20, -10000, kind="reversal", reverses=10, on="2026-01-08")],
        settled=[stored(10, 1, 10000)], customers=[ACME],
    )
    later = apply(first, inputs)
    second = run(later._replace(received=(pay(21, 10000, text=ref(1, 1), on="2026-01-11"),)))

    assert allocated(second) == [(21, 1, 10000, REFERENCE)]
    assert [r.fingerprint for r in second.resolutions] == ["chargeback:1:20"]


# ---------------------------------------------------------------- the rest


def test_fees_other_debits_and_refunds_are_skipped():
    _, result = given(received=[pay(1, -250, kind="fee"), pay(2, -9000, kind="debit"), pay(3, -5000, kind="refund")])

    assert result.counts["skipped"] == 3
    assert result.allocations == [] and result.findings == []


def test_payments_after_the_run_date_are_not_looked_at():
    _, result = given(expected=[exp(1, due="2026-01-25")], received=[pay(10, 10000, text=ref(1, 1), on="2026-01-21")])

    assert result.allocations == []
    assert result.counts["after_as_of"] == 1


def test_an_unidentified_payer_is_a_mismatch_with_up_to_three_suggestions_by_name():
    customers = [cust(1, "Ann Lee"), cust(2, "Bob Lee"), cust(3, "Ann Leeds"), cust(4, "Zed Zulu"), cust(5, "Ann Lee")]
    _, result = given(received=[pay(10, 10000, name="LEE, ANN")], customers=customers)

    mismatch = finding(result, MISMATCH)
    assert (mismatch.fingerprint, mismatch.mismatch_field) == ("mismatch:payer:10", "payer")
    assert mismatch.suggestions == (1, 5, 3)  # both Ann Lees (by id), then Ann Leeds
    assert result.allocations == [] and result.credits == []


def test_fingerprints_are_short_enough():
    big = 10**18
    _, result = given(expected=[exp(big, due="2026-01-05", amount=100, paid=100, settled=True)],
                      received=[pay(big + 1, -100, kind="reversal", reverses=big + 2, on="2026-01-06")],
                      settled=[stored(big + 2, big, 100)])

    assert result.findings and all(len(f.fingerprint) <= 64 for f in result.findings)


def test_counts_of_a_run():
    _, result = given(
        expected=[exp(1), exp(2, due="2026-01-08"), exp(3, due="2025-12-20", customer=2, schedule=2)],
        received=[pay(10, 10000, text=ref(1, 1)), pay(11, 10000, account="acct-ann", on="2026-01-08"),
                  pay(12, 99, name="nobody"), pay(13, -250, kind="fee")],
        customers=[ACME, BOB],
    )

    counts = result.counts
    assert (counts["payments_in"], counts["expected_in"]) == (4, 3)
    assert (counts["matched_reference"], counts["matched_customer_amount"]) == (1, 1)
    assert (counts["settled"], counts["findings_missing"], counts["findings_mismatch"]) == (2, 1, 1)
    assert (counts["skipped"], counts["unallocated"]) == (1, 1)


def test_a_second_run_over_the_stored_result_finds_nothing_new():
    inputs, first = given(
        expected=[exp(1), exp(2, due="2026-01-08", amount=5000), exp(3, due="2026-01-02", customer=2, schedule=2)],
        received=[pay(10, 12000, text=ref(1, 1)), pay(11, 5000, customer=1, on="2026-01-08"),
                  pay(12, 700, name="Bob")],
        customers=[ACME, BOB],
    )
    assert first.allocations and first.findings

    second = run(apply(first, inputs))

    assert second.allocations == [] and second.findings == [] and second.resolutions == []


def test_a_stale_reference_outside_the_duplicate_window_still_names_the_customer_for_the_next_passes():
    policy = POLICY._replace(as_of=day("2026-02-08"))
    _, result = given(
        policy=policy, expected=[exp(1, paid=10000, settled=True), exp(2, due="2026-02-05")],
        received=[pay(11, 10000, text=f"{ref(1, 1)} again", on="2026-02-04")],
        settled=[stored(10, 1, 10000, on="2026-01-05", customer=1)], customers=[ACME._replace(account_hash="")],
    )

    assert allocated(result) == [(11, 2, 10000, CUSTOMER_AMOUNT)]
    assert result.identified == {11: 1}
    assert result.findings == []


def test_money_partly_used_before_only_goes_to_the_credit_pass():
    # 50.00 of payment 10 went before (refunded, or allocated and taken back): its rest is credit,
    # not a new payment quoting a settled reference.
    _, result = given(
        expected=[exp(1, paid=10000, settled=True), exp(2, due="2026-01-10")],
        received=[pay(10, 15000, unallocated=10000, customer=1, text=ref(1, 1))],
        customers=[ACME],
    )

    assert allocated(result) == [(10, 2, 10000, CREDIT)]
    assert result.findings == []


def test_a_reversal_that_took_back_nothing_is_left_to_people_while_its_item_is_open():
    _, result = given(
        expected=[exp(1, paid=10000, settled=True)],
        received=[pay(20, -10000, kind="reversal", text=ref(1, 1), on="2026-01-08")],
        settled=[stored(10, 1, 10000)], customers=[ACME],
        open_items=[OpenItem("chargeback:20", CHARGEBACK, None, (20,))],
    )

    assert result.unallocations == [] and result.findings == []


def test_past_grace_with_part_paid_and_no_item_is_an_underpayment_not_missing():
    _, result = given(policy=LATER, expected=[exp(1, paid=3000)], customers=[ACME])

    under = finding(result, UNDERPAYMENT)
    assert (under.fingerprint, under.amount_actual) == ("underpayment:1:3000", 3000)


def test_the_customer_named_by_the_import_comes_before_the_account_owner():
    _, result = given(expected=[exp(1, customer=2, schedule=2)],
                      received=[pay(10, 10000, customer=2, account="acct-ann")], customers=[ACME, BOB])

    assert allocated(result) == [(10, 1, 10000, CUSTOMER_AMOUNT)]


def test_a_schedule_reference_in_another_currency_is_a_currency_mismatch():
    _, result = given(expected=[exp(1, schedule_ref="CRM-77")],
                      received=[pay(10, 10000, text="CRM-77", currency="GBP")], customers=[ACME])

    assert result.allocations == []
    assert finding(result, MISMATCH).mismatch_field == "currency"


def test_the_reversal_of_a_part_payment_is_a_chargeback_on_the_payment_it_reopens():
    _, result = given(
        expected=[exp(1, paid=6000)],
        received=[pay(20, -6000, kind="reversal", reverses=10, on="2026-01-08")],
        settled=[stored(10, 1, 6000)], customers=[ACME],
    )

    assert finding(result, CHARGEBACK).fingerprint == "chargeback:1:20"
    assert result.reopened_expected == []  # it was not settled


def test_a_reversal_from_an_expected_payment_the_run_was_not_given_is_still_logged():
    _, result = given(received=[pay(20, -6000, kind="reversal", reverses=10, on="2026-01-08")],
                      settled=[stored(10, 99, 6000)])

    assert result.unallocations == [Unallocation(10, 99, 6000, 20)]
    cb = finding(result, CHARGEBACK)
    assert (cb.fingerprint, cb.expected_id) == ("chargeback:99:20", 99)


def test_the_reference_of_a_schedule_paid_up_names_the_customer_whose_credit_it_becomes():
    policy = POLICY._replace(as_of=day("2026-01-06"))
    _, result = given(policy=policy, expected=[exp(1, schedule_ref="CRM-77", paid=10000, settled=True),
                                               exp(2, customer=1, schedule=2, due="2026-03-05")],
                      received=[pay(10, 10000, text="CRM-77", on="2026-01-06")], customers=[ACME._replace(account_hash="")])

    assert result.allocations == []
    assert result.identified == {10: 1}
    assert result.credits == [(1, 10, 10000)]
    assert finding(result, OVERPAYMENT).customer_id == 1


def test_a_known_customer_paying_more_than_all_that_is_due():
    _, result = given(expected=[exp(1, due="2026-01-02")], received=[pay(10, 25000, customer=1, on="2026-01-11")],
                      customers=[ACME])

    assert allocated(result) == [(10, 1, 10000, CREDIT)]
    over = finding(result, OVERPAYMENT)
    assert "100.00 applied to what was due; 150.00 held as credit" in over.summary
    assert result.credits == [(1, 10, 15000)]


def test_part_paid_past_grace_waits_for_statements_too():
    coverage = [Coverage(ACCOUNT, day("2026-01-14"))]
    _, result = given(policy=LATER, expected=[exp(1, paid=3000)], customers=[ACME], coverage=coverage)

    assert result.findings == []
    assert result.waiting == [Waiting(1, (ACCOUNT,))]
