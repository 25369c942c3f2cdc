//! Helpers every stage uses, below all of them: how every file is created (`files`), the
//! wall clock (`clock`) and `--deadline` (`deadline`), hashing (`hash`), numbers and times for people (`humane`) and outside
//! text as messages show it (`text`). Nothing here imports a stage.

pub(crate) mod clock;

pub(crate) mod deadline;
pub(crate) mod files;
pub(crate) mod hash;
pub(crate) mod humane;
pub(crate) mod text;
