"""Statistics for the district office (SPEC §3.9): participation, rates against the resident
population, coverage of 乡镇/街道 and 村/社区, credits, conversions, certificates — every figure an
SQL aggregation in the database — and recognition (学习激励): candidates and awards."""
