"""Maturity assessment: rubrics as data, evidence, the scoring engine, scorecards, attestations and waivers."""
