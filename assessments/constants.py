AUDIT_ACTIONS = {
    "assessment.level_changed": "A project's maturity level changed (or was scored for the first time)",
    "scoring.run_finished": "A scoring run finished",
    "attestation.created": "A criterion was attested by a team maintainer",
    "attestation.verified": "A reviewer verified an attestation",
    "attestation.revoked": "An attestation was revoked",
    "waiver.granted": "A manager granted a waiver of a criterion",
    "waiver.revoked": "A waiver was revoked",
    "attestation_rule.set": "A manager changed how attestations of a criterion are checked",
    "maturity_goal.created": "A maturity goal was set",
    "maturity_goal.updated": "A maturity goal was changed",
    "maturity_goal.deleted": "A maturity goal was removed",
}

# How many supporting records a stored scorecard keeps per criterion (the newest first).
EVIDENCE_PER_CRITERION = 5
