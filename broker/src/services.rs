//! Services: cheap-to-clone handles (a group of keyed actors, a pool, a topic table) that actors
//! find by name and type through the broker, in a namespace of their own apart from actor
//! names. Cold path: each is stored type-erased and cloned out by a downcast; the same sharded
//! layout as the actor registry keeps lookups from contending on one lock. A service's `Clone`
//! and `Drop` are user code, and run outside the shard's lock: one that looks up, registers or
//! unregisters a service of the same broker does not deadlock.

use std::any::Any;
use std::sync::Arc;

use playhouse_core::{LookupError, RegistryError};

use crate::sharded::ShardedMap;
use crate::type_names::short_type_name;

/// A registered service and its type's name (for a lookup with another type).
struct Entry {
    /// Shared, so that a lookup takes it out of the lock to clone the service.
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

/// The services of one broker. Cheap to clone: one `Arc`.
#[derive(Clone, Default)]
pub(crate) struct Services {
    map: ShardedMap<Entry>,
}

impl Services {
    pub(crate) fn register<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        service: T,
    ) -> Result<(), RegistryError> {
        let mut shard = self.map.shard(name).write();
        if shard.contains_key(name) {
            return Err(RegistryError::NameTaken(name.to_owned()));
        }
        shard.insert(
            name.to_owned(),
            Entry {
                value: Arc::new(service),
                type_name: std::any::type_name::<T>(),
            },
        );
        Ok(())
    }

    pub(crate) fn lookup<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<T, LookupError> {
        let (value, type_name) = {
            let shard = self.map.shard(name).read();
            let entry = shard.get(name).ok_or_else(|| LookupError::NotFound {
                name: name.to_owned(),
            })?;
            (Arc::clone(&entry.value), entry.type_name)
        };
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| LookupError::WrongType {
                name: name.to_owned(),
                registered: short_type_name(type_name),
                requested: short_type_name(std::any::type_name::<T>()),
            })
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        let removed = self.map.shard(name).write().remove(name);
        // Dropped here, after the lock.
        removed.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::*;

    #[test]
    fn services_are_typed_and_names_unique() {
        let services = Services::default();
        services.register("limit", 5_u32).unwrap();
        assert_eq!(
            services.register("limit", 6_u32),
            Err(RegistryError::NameTaken("limit".into()))
        );
        assert_eq!(services.lookup::<u32>("limit"), Ok(5));
        assert_eq!(
            services.lookup::<String>("limit"),
            Err(LookupError::WrongType {
                name: "limit".into(),
                registered: "u32".into(),
                requested: "String".into(),
            })
        );
        assert_eq!(
            services.lookup::<u32>("none"),
            Err(LookupError::NotFound {
                name: "none".into()
            })
        );
        assert!(services.unregister("limit"));
        assert!(!services.unregister("limit"));
        assert_eq!(services.len(), 0);
    }

    /// A service whose `Clone` and `Drop` use the services under its own name (the same shard).
    struct Reenters(Services);

    impl Clone for Reenters {
        fn clone(&self) -> Self {
            assert!(self.0.register("svc", 0_u32).is_err(), "the name is taken");
            Reenters(self.0.clone())
        }
    }

    impl Drop for Reenters {
        fn drop(&mut self) {
            let _ = self.0.register("svc", 2_u32);
        }
    }

    /// A service's clone (by a lookup) and drop (by an unregister) run outside the shard's
    /// lock: with it held, each of these calls deadlocked.
    #[test]
    fn a_service_may_use_the_services_in_its_clone_and_drop() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let services = Services::default();
            services
                .register("svc", Reenters(services.clone()))
                .unwrap();
            let found = services.lookup::<Reenters>("svc").map(drop).is_ok();
            let removed = services.unregister("svc");
            let _ = done.send((found, removed, services.lookup::<u32>("svc")));
        });
        let outcome = finished.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(outcome, Ok((true, true, Ok(2))));
    }
}
