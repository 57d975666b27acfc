//! Ledger certificates by height (see [`keel_ledger::certificate`]).
//!
//! Written unsynced: a certificate is a cache of signatures the validators made anyway, so losing
//! the last few to a power cut costs only the ability to prove those heights until newer ones
//! certify; it never changes what the node signs or commits.

use std::sync::Arc;

use keel_ledger::{Height, LedgerCertificate};
use rocksdb::IteratorMode;

use super::database::{Database, StorageError, CERTIFICATES};

/// Read and write access to the certificate column.
#[derive(Clone)]
pub struct CertificateStore {
    database: Arc<Database>,
}

impl CertificateStore {
    /// The certificate column of `database`.
    pub fn new(database: Arc<Database>) -> Self {
        CertificateStore { database }
    }

    /// Stores `certificate` under its height.
    pub fn save(&self, certificate: &LedgerCertificate) -> Result<(), StorageError> {
        let bytes = borsh::to_vec(certificate).expect("borsh into a Vec cannot fail");
        let column = self.database.column(CERTIFICATES);
        Ok(self.database.db().put_cf(column, certificate.info.height.0.to_be_bytes(), bytes)?)
    }

    /// The certificate of `height`, if this node gathered one.
    pub fn get(&self, height: Height) -> Result<Option<LedgerCertificate>, StorageError> {
        let column = self.database.column(CERTIFICATES);
        self.database.db().get_cf(column, height.0.to_be_bytes())?.map(|bytes| decode(&bytes)).transpose()
    }

    /// The certificate of the highest certified height.
    pub fn latest(&self) -> Result<Option<LedgerCertificate>, StorageError> {
        self.latest_at_or_below(Height(u64::MAX))
    }

    /// The certificate of the highest certified height at or below `height`.
    pub fn latest_at_or_below(&self, height: Height) -> Result<Option<LedgerCertificate>, StorageError> {
        let column = self.database.column(CERTIFICATES);
        let key = height.0.to_be_bytes();
        let mode = IteratorMode::From(&key, rocksdb::Direction::Reverse);
        match self.database.db().iterator_cf(column, mode).next() {
            None => Ok(None),
            Some(entry) => decode(&entry?.1).map(Some),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<LedgerCertificate, StorageError> {
    borsh::from_slice(bytes)
        .map_err(|e| StorageError::Corrupt { what: "ledger certificate".into(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use keel_crypto::{Hash, Keypair};
    use keel_ledger::{LedgerInfo, LedgerSignature};

    use super::*;

    fn certificate(height: u64) -> LedgerCertificate {
        let info = LedgerInfo {
            chain_id: "c".into(),
            height: Height(height),
            block_id: Hash::sha256(&height.to_le_bytes()),
            state_root: Hash::ZERO,
            receipts_hash: Hash::ZERO,
        };
        let keypair = Keypair::from_secret_bytes(&[7; 32]);
        LedgerCertificate { signatures: vec![LedgerSignature::sign(&keypair, &info)], info }
    }

    #[test]
    fn certificates_are_found_by_height_and_the_latest_is_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertificateStore::new(Database::open(dir.path()).unwrap());
        assert_eq!(store.latest().unwrap(), None);
        for height in [3, 300, 12] {
            store.save(&certificate(height)).unwrap();
        }
        assert_eq!(store.get(Height(12)).unwrap(), Some(certificate(12)));
        assert_eq!(store.get(Height(13)).unwrap(), None);
        assert_eq!(store.latest().unwrap(), Some(certificate(300)));
        assert_eq!(store.latest_at_or_below(Height(299)).unwrap(), Some(certificate(12)));
        assert_eq!(store.latest_at_or_below(Height(12)).unwrap(), Some(certificate(12)));
        assert_eq!(store.latest_at_or_below(Height(2)).unwrap(), None);
    }
}
