//! Error numbers, with the kernel's names and values (include/uapi/asm-generic/errno-base.h,
//! errno.h).

use std::fmt;

macro_rules! errnos {
    ($($name:ident = $value:literal: $doc:literal,)*) => {
        /// An error number a modelled kernel function returns (as `-errno`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Errno {
            $(#[doc = $doc] $name,)*
        }

        impl Errno {
            /// Every error number a scenario may name, in value order.
            pub const ALL: &[Errno] = &[$(Errno::$name,)*];

            /// The kernel's value.
            pub fn value(self) -> i32 {
                match self { $(Errno::$name => $value,)* }
            }

            /// The kernel's name (`EFAULT`).
            pub fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }
        }
    };
}

errnos! {
    EPERM = 1: "Operation not permitted.",
    ESRCH = 3: "No such process: the task has exited.",
    EIO = 5: "I/O error.",
    EAGAIN = 11: "Try again.",
    ENOMEM = 12: "Out of memory; also GUP's refusal of a folio whose refcount is not positive.",
    EFAULT = 14: "Bad address: nothing mapped there, or the access is not allowed.",
    EBUSY = 16: "Device or resource busy.",
    EINVAL = 22: "Invalid argument.",
    ENOSPC = 28: "No space left on device.",
    EMLINK = 31: "Too many links (GUP's internal 'must unshare' signal).",
    EOPNOTSUPP = 95: "Operation not supported.",
    EREMOTEIO = 121: "Remote I/O error.",
}

impl Errno {
    /// Looks an error number up by its name (`ENOMEM`).
    pub fn from_name(name: &str) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_match_the_kernel() {
        assert_eq!(Errno::ENOMEM.value(), 12);
        assert_eq!(Errno::EFAULT.value(), 14);
        assert_eq!(Errno::EOPNOTSUPP.value(), 95);
        assert_eq!(Errno::from_name("EFAULT"), Some(Errno::EFAULT));
        assert_eq!(Errno::from_name("efault"), None);
        assert!(Errno::ALL.windows(2).all(|w| w[0].value() < w[1].value()));
    }
}
