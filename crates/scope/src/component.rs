//! The component a task runs: the name of a tool or prompt, or a resource URI or template.

use crate::error::Part;
use crate::text::encoded_text;

encoded_text!(
    /// The component identifier of a task (tool or prompt name, resource URI or template): any text.
    ///
    /// Components hold and compare their decoded text, whether built from text or parsed from a key.
    ///
    /// ```
    /// use taskctx_scope::Component;
    /// assert_eq!(Component::new("weird:name#1").encoded(), "weird%3Aname%231");
    /// assert_eq!(Component::from_encoded("50%25%20off")?, "50% off");
    /// # Ok::<(), taskctx_scope::Error>(())
    /// ```
    Component,
    Part::Component
);
