//! `junit.xml`: one test suite per scenario run, one test case per check,
//! so CI systems show which property failed.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::Outcome;

/// Renders `outcome` as JUnit XML.
pub fn render(outcome: &Outcome) -> String {
    let mut suite = TestSuite::new(format!("{} [{}]", outcome.scenario, outcome.world.as_str()));
    suite.set_time(std::time::Duration::from_millis(outcome.elapsed_ms));
    if let Some(reason) = &outcome.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_message(reason.clone());
        suite.add_test_case(TestCase::new("run", status));
    } else if outcome.checks.is_empty() {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message("the run recorded no checks");
        suite.add_test_case(TestCase::new("run", status));
    }
    for c in &outcome.checks {
        let status = if c.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(c.detail.clone());
            s
        };
        let mut case = TestCase::new(c.name.clone(), status);
        case.set_classname(outcome.scenario.clone());
        suite.add_test_case(case);
    }
    let mut report = Report::new("clusterlab");
    report.add_test_suite(suite);
    report.to_string().expect("junit serialises")
}
