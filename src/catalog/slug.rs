//! Slugs for item paths and names for per-type views.

/// The longest slug, before any `-2`, `-3`... suffix.
const MAX_SLUG_LEN: usize = 60;

/// Makes the slug of an item: its title in lowercase ASCII with every
/// other character run turned into one `-`, or its id when that leaves
/// nothing.
pub(super) fn item_slug(title: &str, sf_object_id: &str) -> String {
    let slug = slugify(title);
    if slug.is_empty() {
        sf_object_id.to_ascii_lowercase()
    } else {
        slug
    }
}

/// Lowercases, folds common accented letters to ASCII, replaces the rest
/// with single dashes, trims dashes and cuts at [`MAX_SLUG_LEN`].
fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len().min(MAX_SLUG_LEN));
    for c in text.chars().flat_map(char::to_lowercase) {
        match fold_to_ascii(c) {
            Some(a) => slug.push(a),
            None if !slug.is_empty() && !slug.ends_with('-') => slug.push('-'),
            None => {}
        }
        if slug.len() >= MAX_SLUG_LEN {
            break;
        }
    }
    slug.trim_end_matches('-').to_string()
}

/// The ASCII letter or digit a lowercase character stands for, if any.
fn fold_to_ascii(c: char) -> Option<char> {
    let folded = match c {
        'a'..='z' | '0'..='9' => c,
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ď' => 'd',
        'ť' => 't',
        _ => return None,
    };
    Some(folded)
}

/// The name of a type's view: the type name lowercased, with every
/// character outside `[a-z0-9_]` replaced by `_`.
pub(super) fn view_name(type_name: &str) -> String {
    type_name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_lowercases_and_collapses_punctuation() {
        assert_eq!(item_slug("  Hello, World!! ", "X"), "hello-world");
        assert_eq!(item_slug("Crème Brûlée", "X"), "creme-brulee");
        assert_eq!(item_slug("a--b__c", "X"), "a-b-c");
    }

    #[test]
    fn slug_falls_back_to_the_lowercased_id() {
        assert_eq!(item_slug("", "003AB"), "003ab");
        assert_eq!(item_slug("日本", "003AB"), "003ab");
    }

    #[test]
    fn slug_is_at_most_sixty_characters_without_a_trailing_dash() {
        let title = format!("{} tail", "x".repeat(59));
        let slug = item_slug(&title, "X");
        assert_eq!(slug, "x".repeat(59));
        assert!(item_slug(&"ab ".repeat(40), "X").len() <= 60);
    }

    #[test]
    fn view_names_keep_only_safe_characters() {
        assert_eq!(view_name("Contact"), "contact");
        assert_eq!(view_name("My Type-2"), "my_type_2");
    }
}
