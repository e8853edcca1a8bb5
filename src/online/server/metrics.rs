//! `GET /metrics`: the server's counters and the latency histogram of sign and renew, as
//! Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency histogram bucket bounds, seconds.
pub(super) const BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
pub(super) struct Metrics {
    pub(super) issued: AtomicU64,
    pub(super) renewed: AtomicU64,
    pub(super) ocsp: AtomicU64,
    pub(super) crl: AtomicU64,
    /// HTTPS connections served without an admission slot (see [`admit`]).
    pub(super) unadmitted: AtomicU64,
    pub(super) refused: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Per bucket (last = +Inf), plus sum in microseconds and count, for sign+renew.
    pub(super) latency: [AtomicU64; 10],
    pub(super) latency_sum_us: AtomicU64,
    pub(super) latency_count: AtomicU64,
}

impl Metrics {
    pub(super) fn refuse(&self, code: &str) {
        if let Ok(mut m) = self.refused.lock() {
            *m.entry(code.to_string()).or_default() += 1;
        }
    }

    pub(super) fn observe(&self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text; `commits` is (group commits, renewals they recorded).
    pub(super) fn render(&self, commits: (u64, u64)) -> String {
        let mut s = String::new();
        let c = |s: &mut String, name: &str, help: &str, v: u64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        };
        c(
            &mut s,
            "mtls_ca_issued_total",
            "Certificates issued with a bootstrap token.",
            self.issued.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_renewed_total",
            "Certificates renewed over mutual TLS.",
            self.renewed.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_ocsp_responses_total",
            "OCSP responses sent.",
            self.ocsp.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_crl_signed_total",
            "CRLs signed for serving.",
            self.crl.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_commit_batches_total",
            "Store transactions of the renewal group commit.",
            commits.0,
        );
        c(
            &mut s,
            "mtls_ca_commit_records_total",
            "Renewals recorded by the group commit (divided by batches: the mean batch).",
            commits.1,
        );
        c(
            &mut s,
            "mtls_ca_connections_unadmitted_total",
            "HTTPS connections served after waiting 250 ms for an admission slot (overload, or clients that stall).",
            self.unadmitted.load(Ordering::Relaxed),
        );
        s.push_str("# HELP mtls_ca_refused_total Requests refused, by reason.\n# TYPE mtls_ca_refused_total counter\n");
        if let Ok(m) = self.refused.lock() {
            for (k, v) in m.iter() {
                s.push_str(&format!("mtls_ca_refused_total{{reason=\"{k}\"}} {v}\n"));
            }
        }
        s.push_str("# HELP mtls_ca_issue_seconds Time to answer sign and renew requests.\n# TYPE mtls_ca_issue_seconds histogram\n");
        let mut acc = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            acc += self.latency[i].load(Ordering::Relaxed);
            s.push_str(&format!(
                "mtls_ca_issue_seconds_bucket{{le=\"{b}\"}} {acc}\n"
            ));
        }
        acc += self.latency[BUCKETS.len()].load(Ordering::Relaxed);
        s.push_str(&format!(
            "mtls_ca_issue_seconds_bucket{{le=\"+Inf\"}} {acc}\n"
        ));
        s.push_str(&format!(
            "mtls_ca_issue_seconds_sum {}\nmtls_ca_issue_seconds_count {}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            self.latency_count.load(Ordering::Relaxed)
        ));
        s
    }
}
