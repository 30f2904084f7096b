//! mfschunkserver: chunk storage of RaftMFS. Built in issue 3; the crate holds its place in the layout.
