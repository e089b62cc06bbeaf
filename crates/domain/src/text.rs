//! What a text the models read must be: not blank, at most a number of characters, and free
//! of control characters other than tab and line breaks. The inference services and the
//! recommendation requests check with this one rule.

/// Why a text cannot be read by the models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the text is empty")]
    Empty,
    #[error("the text has {chars} characters, more than the limit of {max_chars}")]
    TooLong { chars: usize, max_chars: usize },
    #[error("the text contains the control character {0:?}")]
    ControlCharacter(char),
}

/// Checks `text` against the rule, `max_chars` counted in characters (never truncated).
pub fn check(text: &str, max_chars: usize) -> Result<(), TextError> {
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(TextError::TooLong { chars, max_chars });
    }
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(TextError::ControlCharacter(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_long_and_control_texts_are_refused_by_name() {
        assert_eq!(check("Très bien", 9), Ok(()));
        assert_eq!(check("ligne\nsuivante\tet tab\r", 100), Ok(()));
        assert_eq!(check(" \n\t", 10), Err(TextError::Empty));
        assert_eq!(check("", 10), Err(TextError::Empty));
        assert_eq!(
            check("Très bien!", 9),
            Err(TextError::TooLong {
                chars: 10,
                max_chars: 9
            })
        );
        assert_eq!(
            check("bien\u{7}", 10),
            Err(TextError::ControlCharacter('\u{7}'))
        );
        assert_eq!(
            check("bien\u{85}", 10),
            Err(TextError::ControlCharacter('\u{85}'))
        );
    }
}
