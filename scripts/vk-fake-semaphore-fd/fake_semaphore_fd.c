// A Vulkan layer that lets headless Chromium run WebGPU on Mesa's lavapipe (Vulkan on the CPU).
//
// Chromium only offers a Vulkan device to WebGPU when it can share images with the compositor,
// which it checks through VK_KHR_external_semaphore_fd; lavapipe has no such extension, and
// Dawn skips CPU-type devices in favour of its built-in SwiftShader. WebGPU compute never uses
// either, so this layer, loaded only by the test rig (tests/browser/chromium_rig.py):
//   - lists VK_KHR_external_semaphore_fd on devices that lack it, reports opaque-fd semaphores
//     as exportable, strips the extension again at vkCreateDevice, and stubs its two entry
//     points (they fail if ever called);
//   - reports CPU-type devices other than SwiftShader as integrated GPUs, so Dawn picks them;
//   - with WEBSLM_VK_NO_SHADER_F16=1, hides shaderFloat16: an adapter without shader-f16, for
//     tests about that case.
// Built by scripts/install-vk-layer.sh; the manifest next to this file names the library.
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <vulkan/vulkan.h>
#include <vulkan/vk_layer.h>

#define LAYER_NAME "VK_LAYER_fake_semaphore_fd"
#define FAKED_EXT VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME
#define MAX_HANDLES 64
#define SWIFTSHADER_VENDOR 0x1AE0
#define SWIFTSHADER_DEVICE 0xC0DE

// The loader's dispatch table pointer: the same for an instance and its physical devices.
static void *dispatch_key(const void *handle) { return *(void *const *)handle; }

typedef struct {
  void *key;
  VkInstance instance;
  PFN_vkGetInstanceProcAddr next_gipa;
  PFN_vkDestroyInstance destroy;
  PFN_vkCreateDevice create_device;
  PFN_vkEnumerateDeviceExtensionProperties enum_extensions;
  PFN_vkGetPhysicalDeviceExternalSemaphoreProperties semaphore_props;
  PFN_vkGetPhysicalDeviceProperties props;
  PFN_vkGetPhysicalDeviceProperties2 props2;
  PFN_vkGetPhysicalDeviceFeatures2 features2;
} Instance;

typedef struct {
  void *key;
  PFN_vkGetDeviceProcAddr next_gdpa;
} Device;

static Instance instances[MAX_HANDLES];
static int n_instances;
static Device devices[MAX_HANDLES];
static int n_devices;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static Instance *instance_of(const void *handle) {
  void *key = dispatch_key(handle);
  Instance *found = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < n_instances; i++)
    if (instances[i].key == key) found = &instances[i];
  pthread_mutex_unlock(&lock);
  return found;
}

static Device *device_of(const void *handle) {
  void *key = dispatch_key(handle);
  Device *found = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < n_devices; i++)
    if (devices[i].key == key) found = &devices[i];
  pthread_mutex_unlock(&lock);
  return found;
}

static int is_swiftshader(const VkPhysicalDeviceProperties *p) {
  return p->vendorID == SWIFTSHADER_VENDOR && p->deviceID == SWIFTSHADER_DEVICE;
}

static int env_is_1(const char *name) {
  const char *v = getenv(name);
  return v && !strcmp(v, "1");
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo *info,
                                                     const VkAllocationCallbacks *alloc, VkInstance *out) {
  VkLayerInstanceCreateInfo *link = (VkLayerInstanceCreateInfo *)info->pNext;
  while (link && !(link->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO && link->function == VK_LAYER_LINK_INFO))
    link = (VkLayerInstanceCreateInfo *)link->pNext;
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(VK_NULL_HANDLE, "vkCreateInstance");
  VkResult result = create(info, alloc, out);
  if (result != VK_SUCCESS) return result;
  Instance inst = {.key = dispatch_key(*out), .instance = *out, .next_gipa = gipa};
#define NEXT(field, type, name) inst.field = (type)gipa(*out, name)
  NEXT(destroy, PFN_vkDestroyInstance, "vkDestroyInstance");
  NEXT(create_device, PFN_vkCreateDevice, "vkCreateDevice");
  NEXT(enum_extensions, PFN_vkEnumerateDeviceExtensionProperties, "vkEnumerateDeviceExtensionProperties");
  NEXT(semaphore_props, PFN_vkGetPhysicalDeviceExternalSemaphoreProperties, "vkGetPhysicalDeviceExternalSemaphoreProperties");
  if (!inst.semaphore_props)
    NEXT(semaphore_props, PFN_vkGetPhysicalDeviceExternalSemaphoreProperties, "vkGetPhysicalDeviceExternalSemaphorePropertiesKHR");
  NEXT(props, PFN_vkGetPhysicalDeviceProperties, "vkGetPhysicalDeviceProperties");
  NEXT(props2, PFN_vkGetPhysicalDeviceProperties2, "vkGetPhysicalDeviceProperties2");
  if (!inst.props2) NEXT(props2, PFN_vkGetPhysicalDeviceProperties2, "vkGetPhysicalDeviceProperties2KHR");
  NEXT(features2, PFN_vkGetPhysicalDeviceFeatures2, "vkGetPhysicalDeviceFeatures2");
  if (!inst.features2) NEXT(features2, PFN_vkGetPhysicalDeviceFeatures2, "vkGetPhysicalDeviceFeatures2KHR");
#undef NEXT
  pthread_mutex_lock(&lock);
  if (n_instances < MAX_HANDLES) instances[n_instances++] = inst;
  pthread_mutex_unlock(&lock);
  return VK_SUCCESS;
}

static VKAPI_ATTR void VKAPI_CALL DestroyInstance(VkInstance instance, const VkAllocationCallbacks *alloc) {
  Instance *inst = instance_of(instance);
  if (!inst) return;
  PFN_vkDestroyInstance destroy = inst->destroy;
  pthread_mutex_lock(&lock);
  *inst = instances[--n_instances];
  pthread_mutex_unlock(&lock);
  destroy(instance, alloc);
}

static int has_native_extension(Instance *inst, VkPhysicalDevice pd) {
  uint32_t n = 0;
  inst->enum_extensions(pd, NULL, &n, NULL);
  VkExtensionProperties *ext = calloc(n ? n : 1, sizeof *ext);
  inst->enum_extensions(pd, NULL, &n, ext);
  int has = 0;
  for (uint32_t i = 0; i < n; i++) has |= !strcmp(ext[i].extensionName, FAKED_EXT);
  free(ext);
  return has;
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumerateDeviceExtensionProperties(VkPhysicalDevice pd, const char *layer,
                                                                         uint32_t *count, VkExtensionProperties *out) {
  Instance *inst = instance_of(pd);
  if (layer && !strcmp(layer, LAYER_NAME)) { *count = 0; return VK_SUCCESS; }
  if (layer) return inst->enum_extensions(pd, layer, count, out);
  uint32_t n = 0;
  VkResult result = inst->enum_extensions(pd, NULL, &n, NULL);
  if (result != VK_SUCCESS) return result;
  VkExtensionProperties *ext = calloc(n + 1, sizeof *ext);
  inst->enum_extensions(pd, NULL, &n, ext);
  int has = 0;
  for (uint32_t i = 0; i < n; i++) has |= !strcmp(ext[i].extensionName, FAKED_EXT);
  if (!has) {
    strcpy(ext[n].extensionName, FAKED_EXT);
    ext[n++].specVersion = 1;
  }
  if (!out) { *count = n; free(ext); return VK_SUCCESS; }
  uint32_t copied = *count < n ? *count : n;
  memcpy(out, ext, copied * sizeof *ext);
  *count = copied;
  free(ext);
  return copied < n ? VK_INCOMPLETE : VK_SUCCESS;
}

static VKAPI_ATTR void VKAPI_CALL GetExternalSemaphoreProperties(VkPhysicalDevice pd,
    const VkPhysicalDeviceExternalSemaphoreInfo *info, VkExternalSemaphoreProperties *props) {
  instance_of(pd)->semaphore_props(pd, info, props);
  if (info->handleType == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT && !props->externalSemaphoreFeatures) {
    props->externalSemaphoreFeatures = VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
    props->compatibleHandleTypes = props->exportFromImportedHandleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  }
}

static VKAPI_ATTR VkResult VKAPI_CALL GetSemaphoreFd(VkDevice d, const VkSemaphoreGetFdInfoKHR *info, int *fd) {
  (void)d; (void)info; (void)fd;
  return VK_ERROR_OUT_OF_HOST_MEMORY;
}

static VKAPI_ATTR VkResult VKAPI_CALL ImportSemaphoreFd(VkDevice d, const VkImportSemaphoreFdInfoKHR *info) {
  (void)d; (void)info;
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

static void report_cpu_as_integrated(VkPhysicalDeviceProperties *p) {
  if (p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && !is_swiftshader(p))
    p->deviceType = VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
}

static VKAPI_ATTR void VKAPI_CALL GetProperties(VkPhysicalDevice pd, VkPhysicalDeviceProperties *p) {
  instance_of(pd)->props(pd, p);
  report_cpu_as_integrated(p);
}

static VKAPI_ATTR void VKAPI_CALL GetProperties2(VkPhysicalDevice pd, VkPhysicalDeviceProperties2 *p) {
  instance_of(pd)->props2(pd, p);
  report_cpu_as_integrated(&p->properties);
}

static VKAPI_ATTR void VKAPI_CALL GetFeatures2(VkPhysicalDevice pd, VkPhysicalDeviceFeatures2 *f) {
  instance_of(pd)->features2(pd, f);
  if (!env_is_1("WEBSLM_VK_NO_SHADER_F16")) return;
  for (VkBaseOutStructure *s = (VkBaseOutStructure *)f->pNext; s; s = s->pNext) {
    if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES)
      ((VkPhysicalDeviceVulkan12Features *)s)->shaderFloat16 = VK_FALSE;
    if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES)
      ((VkPhysicalDeviceShaderFloat16Int8Features *)s)->shaderFloat16 = VK_FALSE;
  }
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateDevice(VkPhysicalDevice pd, const VkDeviceCreateInfo *info,
                                                   const VkAllocationCallbacks *alloc, VkDevice *out) {
  Instance *inst = instance_of(pd);
  VkLayerDeviceCreateInfo *link = (VkLayerDeviceCreateInfo *)info->pNext;
  while (link && !(link->sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO && link->function == VK_LAYER_LINK_INFO))
    link = (VkLayerDeviceCreateInfo *)link->pNext;
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetDeviceProcAddr gdpa = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  // The driver would reject an extension it does not have: drop the one this layer invented.
  int strip = !has_native_extension(inst, pd);
  const char **names = calloc(info->enabledExtensionCount + 1, sizeof *names);
  uint32_t n = 0;
  for (uint32_t i = 0; i < info->enabledExtensionCount; i++)
    if (!(strip && !strcmp(info->ppEnabledExtensionNames[i], FAKED_EXT))) names[n++] = info->ppEnabledExtensionNames[i];
  VkDeviceCreateInfo stripped = *info;
  stripped.enabledExtensionCount = n;
  stripped.ppEnabledExtensionNames = names;
  VkResult result = inst->create_device(pd, &stripped, alloc, out);
  free(names);
  if (result == VK_SUCCESS) {
    pthread_mutex_lock(&lock);
    if (n_devices < MAX_HANDLES) devices[n_devices++] = (Device){.key = dispatch_key(*out), .next_gdpa = gdpa};
    pthread_mutex_unlock(&lock);
  }
  return result;
}

static VKAPI_ATTR void VKAPI_CALL DestroyDevice(VkDevice device, const VkAllocationCallbacks *alloc) {
  Device *dev = device_of(device);
  if (!dev) return;
  PFN_vkDestroyDevice destroy = (PFN_vkDestroyDevice)dev->next_gdpa(device, "vkDestroyDevice");
  pthread_mutex_lock(&lock);
  *dev = devices[--n_devices];
  pthread_mutex_unlock(&lock);
  destroy(device, alloc);
}

static PFN_vkVoidFunction semaphore_stub(const char *name) {
  if (!strcmp(name, "vkGetSemaphoreFdKHR")) return (PFN_vkVoidFunction)GetSemaphoreFd;
  if (!strcmp(name, "vkImportSemaphoreFdKHR")) return (PFN_vkVoidFunction)ImportSemaphoreFd;
  return NULL;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char *name) {
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)GetDeviceProcAddr;
  if (!strcmp(name, "vkDestroyDevice")) return (PFN_vkVoidFunction)DestroyDevice;
  Device *dev = device_of(device);
  if (!dev) return NULL;
  PFN_vkVoidFunction next = dev->next_gdpa(device, name);
  return next ? next : semaphore_stub(name);
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char *name) {
  static const struct { const char *name; PFN_vkVoidFunction fn; } ours[] = {
    {"vkGetInstanceProcAddr", (PFN_vkVoidFunction)GetInstanceProcAddr},
    {"vkCreateInstance", (PFN_vkVoidFunction)CreateInstance},
    {"vkDestroyInstance", (PFN_vkVoidFunction)DestroyInstance},
    {"vkCreateDevice", (PFN_vkVoidFunction)CreateDevice},
    {"vkGetDeviceProcAddr", (PFN_vkVoidFunction)GetDeviceProcAddr},
    {"vkDestroyDevice", (PFN_vkVoidFunction)DestroyDevice},
    {"vkEnumerateDeviceExtensionProperties", (PFN_vkVoidFunction)EnumerateDeviceExtensionProperties},
    {"vkGetPhysicalDeviceExternalSemaphoreProperties", (PFN_vkVoidFunction)GetExternalSemaphoreProperties},
    {"vkGetPhysicalDeviceExternalSemaphorePropertiesKHR", (PFN_vkVoidFunction)GetExternalSemaphoreProperties},
    {"vkGetPhysicalDeviceProperties", (PFN_vkVoidFunction)GetProperties},
    {"vkGetPhysicalDeviceProperties2", (PFN_vkVoidFunction)GetProperties2},
    {"vkGetPhysicalDeviceProperties2KHR", (PFN_vkVoidFunction)GetProperties2},
    {"vkGetPhysicalDeviceFeatures2", (PFN_vkVoidFunction)GetFeatures2},
    {"vkGetPhysicalDeviceFeatures2KHR", (PFN_vkVoidFunction)GetFeatures2},
  };
  for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
    if (!strcmp(name, ours[i].name)) return ours[i].fn;
  if (!instance) return NULL;
  Instance *inst = instance_of(instance);
  if (!inst) return NULL;
  PFN_vkVoidFunction next = inst->next_gipa(instance, name);
  return next ? next : semaphore_stub(name);
}

VKAPI_ATTR VkResult VKAPI_CALL vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface *v) {
  if (v->loaderLayerInterfaceVersion > 2) v->loaderLayerInterfaceVersion = 2;
  v->pfnGetInstanceProcAddr = GetInstanceProcAddr;
  v->pfnGetDeviceProcAddr = GetDeviceProcAddr;
  v->pfnGetPhysicalDeviceProcAddr = NULL;
  return VK_SUCCESS;
}
