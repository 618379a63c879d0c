//! Splits SOQL text into tokens, each with its character offset so errors
//! can point at it.

use super::SoqlError;

/// One kind of token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A string literal's source text between the quotes, escapes undecoded:
    /// what they mean depends on whether it is a LIKE pattern.
    Str(String),
    Num(f64),
    /// An unquoted date or datetime literal, as written.
    DateTime(String),
    Comma,
    LParen,
    RParen,
    Dot,
    Op(&'static str),
    Eof,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

impl Token {
    /// How the token reads in an `unexpected token` message.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("''{s}''"),
            Tok::Num(n) => format!("'{n}'"),
            Tok::DateTime(s) => format!("'{s}'"),
            Tok::Comma => "','".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Dot => "'.'".into(),
            Tok::Op(op) => format!("'{op}'"),
            Tok::Eof => "<EOF>".into(),
        }
    }
}

/// Tokenizes a whole query.
pub fn lex(text: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, next) = lex_one(&chars, i)?;
        tokens.push(Token { tok, pos: i });
        i = next;
    }
    tokens.push(Token {
        tok: Tok::Eof,
        pos: chars.len(),
    });
    Ok(tokens)
}

/// Reads the token starting at `i`; returns it and the offset after it.
fn lex_one(chars: &[char], i: usize) -> Result<(Tok, usize), SoqlError> {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    Ok(match c {
        ',' => (Tok::Comma, i + 1),
        '(' => (Tok::LParen, i + 1),
        ')' => (Tok::RParen, i + 1),
        '.' if !next.is_some_and(|n| n.is_ascii_digit()) => (Tok::Dot, i + 1),
        '\'' => lex_string(chars, i)?,
        '=' => (Tok::Op("="), i + 1),
        '!' if next == Some('=') => (Tok::Op("!="), i + 2),
        '<' if next == Some('>') => (Tok::Op("<>"), i + 2),
        '<' if next == Some('=') => (Tok::Op("<="), i + 2),
        '>' if next == Some('=') => (Tok::Op(">="), i + 2),
        '<' => (Tok::Op("<"), i + 1),
        '>' => (Tok::Op(">"), i + 1),
        c if c.is_ascii_alphabetic() || c == '_' => lex_ident(chars, i),
        c if c.is_ascii_digit() || c == '.' => lex_number_or_date(chars, i)?,
        '-' | '+' if next.is_some_and(|n| n.is_ascii_digit() || n == '.') => {
            lex_number_or_date(chars, i)?
        }
        other => {
            return Err(SoqlError::new(
                "MALFORMED_QUERY",
                i,
                format!("unexpected token: '{other}'"),
            ))
        }
    })
}

fn lex_ident(chars: &[char], start: usize) -> (Tok, usize) {
    let mut end = start;
    while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
        end += 1;
    }
    (Tok::Ident(chars[start..end].iter().collect()), end)
}

/// Reads a quoted string up to its closing quote, keeping escapes as
/// written.
fn lex_string(chars: &[char], start: usize) -> Result<(Tok, usize), SoqlError> {
    let mut i = start + 1;
    let mut raw = String::new();
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                raw.push('\\');
                raw.push(chars[i + 1]);
                i += 2;
            }
            '\'' => return Ok((Tok::Str(raw), i + 1)),
            c => {
                raw.push(c);
                i += 1;
            }
        }
    }
    Err(SoqlError::new(
        "MALFORMED_QUERY",
        start,
        "unexpected token: <EOF>: unterminated string literal",
    ))
}

/// Reads a number, or a date/datetime literal when the text starts like
/// `YYYY-MM-DD`.
fn lex_number_or_date(chars: &[char], start: usize) -> Result<(Tok, usize), SoqlError> {
    if looks_like_date(&chars[start..]) {
        let mut end = start;
        while end < chars.len() && is_datetime_char(chars[end]) {
            end += 1;
        }
        return Ok((Tok::DateTime(chars[start..end].iter().collect()), end));
    }
    let mut end = start + 1;
    while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
        end += 1;
    }
    let text: String = chars[start..end].iter().collect();
    match text.parse::<f64>() {
        Ok(n) => Ok((Tok::Num(n), end)),
        Err(_) => Err(SoqlError::new(
            "MALFORMED_QUERY",
            start,
            format!("unexpected token: '{text}'"),
        )),
    }
}

fn looks_like_date(chars: &[char]) -> bool {
    let pattern = "dddd-dd-dd";
    chars.len() >= pattern.len()
        && pattern.chars().zip(chars).all(|(p, c)| match p {
            'd' => c.is_ascii_digit(),
            _ => *c == p,
        })
}

fn is_datetime_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | 'Z' | '.' | '+')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_literals_and_operators() {
        let toks: Vec<Tok> = lex("a >= 2024-01-31T12:34:56Z AND b != 'x\\'y' AND c < -1.5")
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(toks[1], Tok::Op(">="));
        assert_eq!(toks[2], Tok::DateTime("2024-01-31T12:34:56Z".into()));
        assert_eq!(toks[6], Tok::Str("x\\'y".into()));
        assert_eq!(toks[10], Tok::Num(-1.5));
    }
}
