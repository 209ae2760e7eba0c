//! Colour for verdict words on a terminal: PASS green, FAIL red, KFAIL and
//! SKIP yellow. Plain when standard output is not a terminal or `NO_COLOR`
//! is set (and coloured anyway with `CLICOLOR_FORCE=1`), as
//! [`anstream::AutoStream::choice`] decides; evidence files never carry
//! colour.

use anstyle::{AnsiColor, Style};

/// Whether lines for standard output get colour.
pub fn enabled() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

fn style(word: &str) -> Option<Style> {
    let colour = match word {
        "PASS" => AnsiColor::Green,
        "FAIL" => AnsiColor::Red,
        "KFAIL" | "SKIP" => AnsiColor::Yellow,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(colour.into())).bold())
}

/// `line` with each whole-word verdict coloured when `on`, else as it is.
pub fn verdicts(line: &str, on: bool) -> String {
    if !on {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match style(word) {
            Some(s) => out.push_str(&format!("{s}{word}{s:#}")),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// [`verdicts`] for standard output.
pub fn line(line: &str) -> String {
    verdicts(line, enabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_is_left_exactly_as_it_was() {
        let l = "[1/2] int3/x PASS, FAIL: KFAIL SKIP";
        assert_eq!(verdicts(l, false), l);
    }

    #[test]
    fn each_verdict_word_gets_its_colour() {
        let c = verdicts("a PASS b FAIL c KFAIL d SKIP", true);
        assert!(
            c.contains("\x1b[1m\x1b[32mPASS\x1b[0m"),
            "green PASS, got {c:?}"
        );
        assert!(
            c.contains("\x1b[1m\x1b[31mFAIL\x1b[0m"),
            "red FAIL, got {c:?}"
        );
        assert!(
            c.contains("\x1b[1m\x1b[33mKFAIL\x1b[0m"),
            "yellow KFAIL, got {c:?}"
        );
        assert!(
            c.contains("\x1b[1m\x1b[33mSKIP\x1b[0m"),
            "yellow SKIP, got {c:?}"
        );
    }

    #[test]
    fn verdicts_inside_longer_words_are_not_coloured() {
        assert_eq!(
            verdicts("PASSED FAILURE xSKIP", true),
            "PASSED FAILURE xSKIP"
        );
    }
}
