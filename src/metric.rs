//! How a metric's numbers read: its unit comes from its name.

/// How a metric's numbers are shown, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A share, in percent (changes in points).
    Rate,
    Usd,
    Ms,
    /// Kappa, mean absolute error.
    Number,
}

fn unit(metric: &str) -> Unit {
    if metric == "cost_per_case" {
        Unit::Usd
    } else if metric.ends_with("_ms") {
        Unit::Ms
    } else if metric.ends_with(".kappa") || metric.ends_with(".mae") {
        Unit::Number
    } else {
        Unit::Rate
    }
}

/// A metric's value: `92.5%`, `$0.000020`, `1200 ms`, `0.350`.
pub fn format_value(metric: &str, v: f64) -> String {
    match unit(metric) {
        Unit::Rate => format!("{:.1}%", v * 100.0),
        Unit::Usd => format!("${v:.6}"),
        Unit::Ms => format!("{v:.0} ms"),
        Unit::Number => format!("{v:.3}"),
    }
}

/// A signed number with three decimals: `+0.049`, `-0.010` (lifts, kappas).
pub fn format_signed(x: f64) -> String {
    format!("{}{:.3}", if x < 0.0 { '-' } else { '+' }, x.abs())
}

/// A change of a metric, signed: `-6.2 pt` (percentage points), `+$0.000001`, `+40 ms`.
pub fn format_change(metric: &str, v: f64) -> String {
    let sign = if v < 0.0 { '-' } else { '+' };
    let a = v.abs();
    match unit(metric) {
        Unit::Rate => format!("{sign}{:.1} pt", a * 100.0),
        Unit::Usd => format!("{sign}${a:.6}"),
        Unit::Ms => format!("{sign}{a:.0} ms"),
        Unit::Number => format!("{sign}{a:.3}"),
    }
}
