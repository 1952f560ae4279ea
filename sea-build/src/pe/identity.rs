//! What makes a Windows artifact look like itself instead of node: its own version resource
//! and icon, put into the resource tree in place of node's.
//!
//! Explorer shows the icon group with the lowest id or name, so node's groups and icon images
//! are removed rather than kept beside ours; the manifest and every other resource stay.

use anyhow::Result;
use object::pe::{RT_GROUP_ICON, RT_ICON, RT_VERSION};

use super::icon::IconFile;
use super::resource::{ResourceData, ResourceKey, ResourceTable};
use super::version_info::{LANGUAGE_EN_US, VersionInfo};

/// The resources that replace node's: built once, applied to a tree by [`apply`](Self::apply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceChanges<'a> {
    /// The encoded `VS_VERSIONINFO`, replacing every `RT_VERSION` resource.
    pub version_info: Option<Vec<u8>>,
    /// The icon, replacing every `RT_ICON` and `RT_GROUP_ICON` resource.
    pub icon: Option<(Vec<u8>, Vec<&'a [u8]>)>,
}

impl<'a> ResourceChanges<'a> {
    /// The changes for a version resource and an icon, either optional.
    ///
    /// ```
    /// use sea_build::pe::identity::ResourceChanges;
    /// use sea_build::pe::version_info::VersionInfo;
    /// let changes = ResourceChanges::new(Some(&VersionInfo::default()), None)?;
    /// assert!(changes.version_info.is_some() && changes.icon.is_none());
    /// # anyhow::Ok(())
    /// ```
    pub fn new(version_info: Option<&VersionInfo>, icon: Option<&IconFile<'a>>) -> Result<ResourceChanges<'a>> {
        Ok(ResourceChanges {
            version_info: version_info.map(VersionInfo::to_bytes).transpose()?,
            icon: icon.map(|icon| Ok::<_, anyhow::Error>((icon.group(1)?, icon.images.iter().map(|image| image.bytes).collect()))).transpose()?,
        })
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.version_info.is_none() && self.icon.is_none()
    }

    /// Replaces the tree's version resource and icons as these changes say, in US English
    /// (the tree is left unsorted; sort it before laying it out).
    ///
    /// ```
    /// use sea_build::pe::identity::ResourceChanges;
    /// use sea_build::pe::resource::{ResourceData, ResourceKey, ResourceSection, ResourceTable};
    /// let mut tree = ResourceTable::default();
    /// tree.insert(ResourceKey::Id(16), ResourceKey::Id(1), 1033, ResourceData { bytes: b"node's", code_page: 0, last: false })?;
    /// let changes = ResourceChanges { version_info: Some(b"ours".to_vec()), icon: None };
    /// changes.apply(&mut tree)?;
    /// let section = ResourceSection::build(&tree, 0x1000)?;
    /// assert_eq!(section.data.iter().map(|(_, bytes)| *bytes).collect::<Vec<_>>(), [&b"ours"[..]]);
    /// # anyhow::Ok(())
    /// ```
    pub fn apply<'t>(&'t self, tree: &mut ResourceTable<'t>) -> Result<()> {
        let data = |bytes: &'t [u8]| ResourceData { bytes, code_page: 0, last: false };
        if let Some(version) = &self.version_info {
            tree.entries.retain(|entry| !entry.key.matches(&ResourceKey::Id(RT_VERSION)));
            tree.insert(ResourceKey::Id(RT_VERSION), ResourceKey::Id(1), LANGUAGE_EN_US, data(version))?;
        }
        if let Some((group, images)) = &self.icon {
            tree.entries.retain(|entry| !entry.key.matches(&ResourceKey::Id(RT_ICON)) && !entry.key.matches(&ResourceKey::Id(RT_GROUP_ICON)));
            for (index, image) in images.iter().enumerate() {
                tree.insert(ResourceKey::Id(RT_ICON), ResourceKey::Id(index as u16 + 1), LANGUAGE_EN_US, data(image))?;
            }
            tree.insert(ResourceKey::Id(RT_GROUP_ICON), ResourceKey::Id(1), LANGUAGE_EN_US, data(group))?;
        }
        Ok(())
    }
}
