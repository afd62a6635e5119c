import NIOHTTP1
public enum KilnTestSupportPlaceholder {}
